# Build stage: install everything, compile TypeScript, bundle the web pages.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
COPY src ./src
COPY web ./web
COPY scripts ./scripts
RUN npm ci && npm prune --omit=dev

# Runtime stage: compiled code and production dependencies only.
FROM node:20-bookworm-slim
ENV NODE_ENV=production HOST=0.0.0.0 PORT=1234 DATA_DIR=/data
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 1234
HEALTHCHECK --interval=15s --timeout=3s CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.PORT}/readyz`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Exec form so SIGTERM reaches Quire, which flushes and closes the database before exiting.
CMD ["node", "--max-semi-space-size=4", "dist/cli.js", "serve"]
