/** The subset of pino's logger Quire's inner layers use, so they never depend on Fastify. */
export interface Logger {
  debug(obj: object, msg?: string): void
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
  error(obj: object, msg?: string): void
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} }
