/**
 * @module
 * Small OIP request builders for tests and benchmarks: JSON bodies and
 * binary-extension bodies the way tritonclient sends them.
 */

export const jsonInfer = (rows: number[][], extra: Record<string, unknown> = {}) => ({
  inputs: [{ name: 'features', datatype: 'FP32', shape: [rows.length, rows[0]!.length], data: rows }],
  ...extra,
})

export async function postJson(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; json: any }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
  const text = await res.text()
  let json: any
  try {
    json = JSON.parse(text)
  } catch {
    json = text
  }
  return { status: res.status, headers: res.headers, json }
}

/** A binary-extension request (binary input, binary output), as tritonclient's defaults send it. */
export function binaryInfer(rows: number[][]): { body: Uint8Array<ArrayBuffer>; headers: Record<string, string> } {
  const data = new Float32Array(rows.flat())
  const header = new TextEncoder().encode(
    JSON.stringify({
      inputs: [
        {
          name: 'features',
          datatype: 'FP32',
          shape: [rows.length, rows[0]!.length],
          parameters: { binary_data_size: data.byteLength },
        },
      ],
      outputs: [{ name: 'probabilities', parameters: { binary_data: true } }],
    }),
  )
  const body = new Uint8Array(header.length + data.byteLength)
  body.set(header)
  body.set(new Uint8Array(data.buffer), header.length)
  return {
    body,
    headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) },
  }
}

/** Parses a binary-extension response into its JSON header and each binary output as Float32Array. */
export async function readBinaryResponse(
  res: Response,
): Promise<{ header: any; outputs: Record<string, Float32Array> }> {
  const body = new Uint8Array(await res.arrayBuffer())
  const n = Number(res.headers.get('inference-header-content-length'))
  const header = JSON.parse(new TextDecoder().decode(body.subarray(0, n)))
  const outputs: Record<string, Float32Array> = {}
  let offset = n
  for (const o of header.outputs) {
    const size = o.parameters.binary_data_size
    outputs[o.name] = new Float32Array(body.slice(offset, offset + size).buffer)
    offset += size
  }
  return { header, outputs }
}
