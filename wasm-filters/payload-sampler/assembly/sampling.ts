// @module
// The rate decision, from the request id alone, so every component (the
// filter, the host, the collector) agrees on which requests are sampled.
import { stableHash } from "../../sdk/assembly/hash"

export function sampledByRate(requestId: string, rateBp: i32): bool {
  return rateBp > 0 && requestId.length > 0 && <i32>(stableHash("sample\n" + requestId) % 10000) < rateBp
}
