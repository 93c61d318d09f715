// @module
// Open Inference Protocol paths, as the filters see them.

/** The model named by /v2/models/{model}/..., or "" for other paths. */
export function modelOfPath(path: string): string {
  const prefix = "/v2/models/"
  if (!path.startsWith(prefix)) return ""
  let end = prefix.length
  while (end < path.length) {
    const c = path.charCodeAt(end)
    if (c == 47 || c == 63) break // '/' or '?'
    end++
  }
  return path.substring(prefix.length, end)
}
