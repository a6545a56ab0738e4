// Bundles the browser pages (web/) into dist/web with esbuild: the demo editor and the admin
// dashboard then work offline, served by the server itself. Run by `npm run build`.
import { build } from 'esbuild'
import { copyFile, mkdir } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const out = `${root}dist/web`

await mkdir(`${out}/assets`, { recursive: true })
await build({
  absWorkingDir: root,
  entryPoints: { demo: 'web/demo.ts', admin: 'web/admin.ts' },
  outdir: `${out}/assets`,
  bundle: true,
  format: 'esm',
  target: 'es2022',
  minify: true,
  sourcemap: true,
  legalComments: 'linked',
  logLevel: 'warning',
})
for (const page of ['index.html', 'admin.html']) await copyFile(`${root}web/${page}`, `${out}/${page}`)
