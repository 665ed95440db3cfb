// Small SVG charts (no chart library: a few hundred lines instead of a 50-200 KB dependency,
// and nothing to fetch). Each is an image with a title and a description for screen readers;
// the numbers are also in tables next to them.
import { pct } from './format.js'

const W = 640
const H = 240
const M = { top: 16, right: 16, bottom: 36, left: 56 }

function scale(d0, d1, r0, r1) {
  const span = d1 - d0 || 1
  return (v) => r0 + ((v - d0) / span) * (r1 - r0)
}

function ticks(lo, hi, n = 5) {
  if (!(hi > lo)) return [lo]
  const step0 = (hi - lo) / n
  const mag = 10 ** Math.floor(Math.log10(step0))
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= step0) || step0
  const out = []
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-12; v += step) out.push(Number(v.toPrecision(12)))
  return out
}

function Frame({ id, title, desc, children, height = H }) {
  return (
    <svg class="chart" viewBox={`0 0 ${W} ${height}`} role="img" aria-labelledby={`${id}-t ${id}-d`} data-chart={id}>
      <title id={`${id}-t`}>{title}</title>
      <desc id={`${id}-d`}>{desc}</desc>
      {children}
    </svg>
  )
}

function Axes({ x, y, xt, yt, xf, yf, height = H }) {
  return (
    <g class="axes">
      {yt.map((v) => (
        <g key={`y${v}`}>
          <line x1={M.left} x2={W - M.right} y1={y(v)} y2={y(v)} class="grid" />
          <text x={M.left - 6} y={y(v) + 4} text-anchor="end">{yf(v)}</text>
        </g>
      ))}
      {xt.map((v, i) => (
        <text key={`x${i}`} x={x(v)} y={height - M.bottom + 18} text-anchor="middle">{xf(v)}</text>
      ))}
    </g>
  )
}

export function WeightsChart({ weights }) {
  const rows = Object.entries(weights).sort((a, b) => b[1] - a[1])
  const height = Math.max(80, rows.length * 22 + 30)
  const lo = Math.min(0, ...rows.map((r) => r[1]))
  const hi = Math.max(0, ...rows.map((r) => r[1]))
  const left = 80
  const x = scale(lo, hi || 1, left, W - 70)
  return (
    <Frame id="weights" title="Portfolio weights" height={height}
      desc={rows.map(([a, w]) => `${a} ${pct(w)}`).join(', ')}>
      {rows.map(([asset, w], i) => {
        const y = 10 + i * 22
        const x0 = x(Math.min(0, w))
        return (
          <g key={asset} class="bar-row">
            <text x={left - 8} y={y + 13} text-anchor="end">{asset}</text>
            <rect x={x0} y={y} width={Math.max(1, Math.abs(x(w) - x(0)))} height={16}
              class={w >= 0 ? 'bar' : 'bar negative'} />
            <text x={Math.max(x(w), x(0)) + 6} y={y + 13}>{pct(w)}</text>
          </g>
        )
      })}
    </Frame>
  )
}

export function LineChart({ id, title, points, yFormat = pct, area = false, baseline }) {
  if (!points.length) return null
  const xs = points.map((p, i) => i)
  const ys = points.map((p) => p.y)
  const lo = Math.min(...ys, baseline ?? Infinity)
  const hi = Math.max(...ys, baseline ?? -Infinity)
  const x = scale(0, xs.length - 1, M.left, W - M.right)
  const y = scale(lo, hi, H - M.bottom, M.top)
  const d = points.map((p, i) => `${i ? 'L' : 'M'}${x(i).toFixed(1)},${y(p.y).toFixed(1)}`).join('')
  const xt = ticks(0, xs.length - 1, 4).map(Math.round)
  const last = points[points.length - 1]
  return (
    <Frame id={id} title={title}
      desc={`${points.length} points from ${points[0].x} to ${last.x}; last ${yFormat(last.y)}, lowest ${yFormat(lo)}, highest ${yFormat(hi)}`}>
      <Axes x={x} y={y} xt={xt} yt={ticks(lo, hi)} xf={(i) => points[i]?.x?.slice(0, 7) ?? ''} yf={yFormat} />
      {area && <path d={`${d}L${x(xs.length - 1)},${y(baseline ?? 0)}L${x(0)},${y(baseline ?? 0)}Z`} class="area" />}
      <path d={d} class="line" />
    </Frame>
  )
}

export function FrontierChart({ frontier }) {
  const pts = frontier.points
  const all = [...pts, frontier.portfolio]
  const vx = all.map((p) => p.volatility)
  const ry = all.map((p) => p.return)
  const x = scale(Math.min(...vx), Math.max(...vx), M.left, W - M.right)
  const y = scale(Math.min(...ry), Math.max(...ry), H - M.bottom, M.top)
  const d = pts.map((p, i) => `${i ? 'L' : 'M'}${x(p.volatility).toFixed(1)},${y(p.return).toFixed(1)}`).join('')
  const f = frontier.portfolio
  return (
    <Frame id="frontier" title="Efficient frontier (annualised)"
      desc={`${pts.length} frontier portfolios from volatility ${pct(pts[0].volatility)} to ${pct(pts[pts.length - 1].volatility)}; this portfolio: volatility ${pct(f.volatility)}, return ${pct(f.return)}`}>
      <Axes x={x} y={y} xt={ticks(Math.min(...vx), Math.max(...vx), 4)} yt={ticks(Math.min(...ry), Math.max(...ry))} xf={pct} yf={pct} />
      <path d={d} class="line" />
      {pts.map((p, i) => <circle key={i} cx={x(p.volatility)} cy={y(p.return)} r={2.5} class="dot" />)}
      <circle cx={x(f.volatility)} cy={y(f.return)} r={6} class="dot portfolio" />
      <text x={x(f.volatility) + 9} y={y(f.return) - 8}>this portfolio</text>
      <text x={W / 2} y={H - 4} text-anchor="middle" class="axis-label">volatility</text>
    </Frame>
  )
}

export const STATUS_ORDER = ['passing', 'failing', 'gap', 'attestation_due', 'inherited']
export const STATUS_LABEL = { passing: 'Passing', failing: 'Failing', gap: 'Gap', attestation_due: 'Attestation due', inherited: 'Inherited' }

export function CoverageChart({ families }) {
  const rowH = 24
  const left = 250
  const height = families.length * rowH + 20
  const max = Math.max(...families.map((f) => f.criteria))
  const x = scale(0, max, left, W - 40)
  return (
    <Frame id="coverage" title="Coverage per criteria group" height={height}
      desc={families.map((f) => `${f.group}: ${STATUS_ORDER.filter((s) => f[s]).map((s) => `${f[s]} ${STATUS_LABEL[s].toLowerCase()}`).join(', ')}`).join('; ')}>
      {families.map((f, i) => {
        let at = 0
        const y = 6 + i * rowH
        return (
          <g key={f.group}>
            <text x={left - 8} y={y + 13} text-anchor="end">{f.group}</text>
            {STATUS_ORDER.map((s) => {
              if (!f[s]) return null
              const seg = <rect key={s} x={x(at)} y={y} width={x(at + f[s]) - x(at)} height={16} class={`seg ${s}`} />
              at += f[s]
              return seg
            })}
            <text x={x(at) + 6} y={y + 13}>{f.criteria}</text>
          </g>
        )
      })}
    </Frame>
  )
}

export function TrendChart({ trend }) {
  if (trend.length === 0) return null
  const series = ['passing', 'failing', 'gap', 'attestation_due']
  const hi = Math.max(1, ...trend.flatMap((t) => series.map((s) => t[s])))
  const x = scale(0, Math.max(1, trend.length - 1), M.left, W - M.right)
  const y = scale(0, hi, H - M.bottom, M.top)
  const last = trend[trend.length - 1]
  return (
    <Frame id="trend" title="Control status over the evidence runs"
      desc={`${trend.length} runs; latest (#${last.sequence}): ${series.map((s) => `${last[s]} ${STATUS_LABEL[s].toLowerCase()}`).join(', ')}`}>
      <Axes x={x} y={y} xt={trend.length > 1 ? ticks(0, trend.length - 1, 4).map(Math.round) : [0]} yt={ticks(0, hi)}
        xf={(i) => (trend[i] ? `#${trend[i].sequence}` : '')} yf={(v) => String(v)} />
      {series.map((s) => (
        <g key={s}>
          <path class={`trend ${s}`} d={trend.map((t, i) => `${i ? 'L' : 'M'}${x(i).toFixed(1)},${y(t[s]).toFixed(1)}`).join('')} />
          {trend.map((t, i) => <circle key={i} cx={x(i)} cy={y(t[s])} r={3} class={`dot ${s}`} />)}
        </g>
      ))}
    </Frame>
  )
}

export function Legend({ items }) {
  return (
    <ul class="legend">
      {items.map((s) => <li key={s}><span class={`swatch ${s}`} aria-hidden="true" />{STATUS_LABEL[s]}</li>)}
    </ul>
  )
}
