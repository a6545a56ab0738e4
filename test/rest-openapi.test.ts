/** The OpenAPI document: generated from the route schemas, lists every REST route, and is valid OpenAPI. */
import { afterEach, describe, expect, it } from 'vitest'
import SwaggerParser from '@apidevtools/swagger-parser'
import type { OpenAPIV3 } from 'openapi-types'
import { createServer } from '../src/index.js'
import { cleanup, tempDir } from './helpers.js'

afterEach(cleanup)

describe('OpenAPI', () => {
  it('lists every REST route with its parameters and responses, validates, and is browsable at /docs', async () => {
    const app = createServer({ dataDir: await tempDir() })
    const routes: Array<{ method: string; url: string }> = []
    app.addHook('onRoute', ({ method, url }) => {
      for (const m of [method].flat()) if (url.startsWith('/api/') && m !== 'HEAD') routes.push({ method: m.toLowerCase(), url })
    })
    await app.listen({ port: 0, host: '127.0.0.1' })
    try {
      const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
      const response = await fetch(`${base}/openapi.json`)
      expect(response.status).toBe(200)
      const spec = (await response.json()) as OpenAPIV3.Document

      // Every route, and nothing else: the document is built from the routes themselves.
      expect(routes.length).toBeGreaterThanOrEqual(15)
      const documented = Object.entries(spec.paths).flatMap(([path, item]) =>
        Object.keys(item!).map((method) => `${method} ${path}`),
      )
      const expected = routes.map(({ method, url }) => `${method} ${url.replace(/:(\w+)/g, '{$1}')}`)
      expect(documented.sort()).toEqual(expected.sort())

      const postUpdate = spec.paths['/api/docs/{name}/update']!.post!
      const body = postUpdate.requestBody as OpenAPIV3.RequestBodyObject
      expect(body.content['application/octet-stream']!.schema).toMatchObject({ type: 'string', format: 'binary' })
      expect(Object.keys(postUpdate.responses)).toEqual(expect.arrayContaining(['200', '400', '413', '415']))
      const getUpdate = spec.paths['/api/docs/{name}/update']!.get!
      expect((getUpdate.parameters as OpenAPIV3.ParameterObject[]).map((p) => `${p.in}:${p.name}`).sort()).toEqual(['path:name', 'query:encoding', 'query:sv'])
      expect(getUpdate.responses['200']).toMatchObject({ content: { 'application/octet-stream': {} } })
      expect(getUpdate.responses['404']).toMatchObject({ content: { 'application/json': { schema: { $ref: '#/components/schemas/QuireError' } } } })

      // Valid OpenAPI 3 (the parser dereferences in place, so give it a copy).
      await expect(SwaggerParser.validate(structuredClone(spec) as never)).resolves.toBeDefined()

      const ui = await fetch(`${base}/docs`)
      expect(ui.status).toBe(200)
      expect(await ui.text()).toContain('swagger-ui')
      expect(await (await fetch(`${base}/docs/json`)).json()).toEqual(spec)
    } finally {
      await app.close()
    }
  })
})
