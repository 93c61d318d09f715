import { num } from '../format.ts'

/** Baseline against current shares per bin, side by side (SVG bars), with the numbers in a table for screen readers. */
export function Histogram({
  edges,
  baseline,
  current,
  label,
  compact = false,
}: {
  edges: number[]
  baseline: number[]
  current: number[]
  label: string
  compact?: boolean
}) {
  const width = compact ? 120 : 220
  const height = compact ? 24 : 64
  const max = Math.max(...baseline, ...current, 0.01)
  const bin = width / baseline.length
  const bar = (bin - 2) / 2
  const range = (i: number) =>
    `${i === 0 ? '−∞' : num(edges[i - 1], 3)} to ${i >= edges.length ? '∞' : num(edges[i], 3)}`
  return (
    <figure class={`histogram${compact ? ' compact' : ''}`}>
      <svg width={width} height={height} viewBox={`0 0 ${width} ${height}`} aria-hidden="true">
        {baseline.map((b, i) => (
          <rect
            class="baseline"
            x={i * bin + 1}
            y={height - (b / max) * height}
            width={bar}
            height={(b / max) * height}
          />
        ))}
        {current.map((c, i) => (
          <rect
            class="current"
            x={i * bin + 1 + bar}
            y={height - (c / max) * height}
            width={bar}
            height={(c / max) * height}
          />
        ))}
      </svg>
      <figcaption>
        {!compact && (
          <>
            <span class="key baseline">baseline</span> <span class="key current">current</span>{' '}
          </>
        )}
        <details>
          <summary>{label}: shares per bin</summary>
          <table class="compact">
            <thead>
              <tr>
                <th scope="col">bin</th>
                <th scope="col">baseline</th>
                <th scope="col">current</th>
              </tr>
            </thead>
            <tbody>
              {baseline.map((b, i) => (
                <tr>
                  <td>{range(i)}</td>
                  <td>{(b * 100).toFixed(1)}%</td>
                  <td>{((current[i] ?? 0) * 100).toFixed(1)}%</td>
                </tr>
              ))}
            </tbody>
          </table>
        </details>
      </figcaption>
    </figure>
  )
}
