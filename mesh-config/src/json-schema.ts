/**
 * @module
 * `npm run mesh:schema`: publishes mesh.yaml's schema as JSON Schema
 * (mesh-config/mesh.schema.json), which editors use to complete and check
 * the file (mesh.yaml names it in its first line). A test keeps it current.
 */
import { writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { z } from 'zod'
import { meshConfigSchema } from './schema.ts'

export const SCHEMA_FILE = fileURLToPath(new URL('../mesh.schema.json', import.meta.url))

export function meshJsonSchema(): string {
  const schema = z.toJSONSchema(meshConfigSchema, { io: 'input', unrepresentable: 'any' })
  return `${JSON.stringify({ ...schema, title: 'mesh.yaml', description: 'The mesh configuration: see mesh-config/README.md' }, null, 2)}\n`
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await writeFile(SCHEMA_FILE, meshJsonSchema())
  process.stdout.write(`wrote ${SCHEMA_FILE}\n`)
}
