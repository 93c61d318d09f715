/** A small trend line (SVG): cheap to draw for every route on the overview. */
export function Sparkline({
  values,
  label,
  width = 120,
  height = 28,
}: {
  values: (number | null)[]
  label: string
  width?: number
  height?: number
}) {
  const finite = values.filter((v): v is number => v != null && Number.isFinite(v))
  const max = Math.max(...finite, 0)
  const min = Math.min(...finite, 0)
  const span = max - min || 1
  const step = values.length > 1 ? width / (values.length - 1) : width
  let d = ''
  values.forEach((v, i) => {
    if (v == null || !Number.isFinite(v)) return
    const x = (i * step).toFixed(1)
    const y = (height - 2 - ((v - min) / span) * (height - 4)).toFixed(1)
    d += `${d === '' || values[i - 1] == null ? 'M' : 'L'}${x},${y}`
  })
  return (
    <svg class="spark" width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="img" aria-label={label}>
      <path d={d} fill="none" stroke="currentColor" stroke-width="1.5" />
    </svg>
  )
}
