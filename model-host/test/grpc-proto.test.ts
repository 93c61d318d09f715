/**
 * Our .proto against what unmodified Triton clients put on the wire: every
 * message, field (number, type, repeated or map), enum value and method it
 * declares is the same in tritonclient's own descriptors (printed by
 * clients/triton_descriptors.py). A field renumbered or retyped here would
 * make those clients' messages decode as garbage.
 */
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import protobuf from 'protobufjs'
import { describe, expect, it } from 'vitest'
import { ROOT } from '@model-mesh/testkit/host-process'
import { INFERENCE_PROTO } from '../src/grpc/service.ts'

const PYTHON = join(ROOT, '.local/venv/bin/python')

interface Descriptors {
  messages: Record<string, Record<string, [number, string, boolean]>>
  enums: Record<string, Record<string, number>>
  methods: Record<string, [string, string]>
}

/** The same shape, from our .proto. */
function ours(): Descriptors {
  const root = new protobuf.Root().loadSync(INFERENCE_PROTO, { keepCase: true }).resolveAll()
  const pkg = root.lookup('inference') as protobuf.Namespace
  const out: Descriptors = { messages: {}, enums: {}, methods: {} }
  const kind = (f: protobuf.Field) => (f.resolvedType ? f.resolvedType.fullName.replace(/^\./, '') : f.type)
  const walk = (ns: protobuf.NamespaceBase, prefix: string) => {
    for (const item of ns.nestedArray) {
      const name = `${prefix}${item.name}`
      if (item instanceof protobuf.Type) {
        out.messages[name] = Object.fromEntries(
          item.fieldsArray.map((f) => [
            f.name,
            f instanceof protobuf.MapField
              ? [f.id, `map<${f.keyType},${kind(f)}>`, false]
              : [f.id, kind(f), f.repeated],
          ]),
        )
        walk(item, `${name}.`)
      } else if (item instanceof protobuf.Enum) out.enums[name] = { ...item.values }
      else if (item instanceof protobuf.Service)
        for (const m of item.methodsArray) out.methods[m.name] = [m.requestType, m.responseType]
    }
  }
  walk(pkg, '')
  return out
}

describe('the gRPC service definition', () => {
  it("declares only what tritonclient's descriptors have, numbered and typed as they are", async () => {
    const { stdout } = await promisify(execFile)(PYTHON, [join(ROOT, 'model-host/test/clients/triton_descriptors.py')])
    const triton = JSON.parse(stdout) as Descriptors
    const mine = ours()
    expect(Object.keys(mine.methods)).toContain('ModelInfer')
    for (const [name, fields] of Object.entries(mine.messages)) {
      expect(triton.messages[name], `message ${name}`).toBeDefined()
      for (const [field, shape] of Object.entries(fields))
        expect([name, field, shape]).toEqual([name, field, triton.messages[name]![field]])
    }
    for (const [name, values] of Object.entries(mine.enums))
      for (const [value, n] of Object.entries(values))
        expect([name, value, n]).toEqual([name, value, triton.enums[name]?.[value]])
    for (const [method, types] of Object.entries(mine.methods))
      expect([method, ...types]).toEqual([method, ...(triton.methods[method] ?? [])])
  })
})
