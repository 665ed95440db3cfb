// Numbers as people read them: returns, risk and weights as percentages.

const PERCENT_KEYS = new Set(['cagr', 'volatility', 'var', 'cvar', 'max_drawdown', 'annual_return', 'return',
  'mean_return', 'turnover', 'avg_turnover', 'gross_exposure', 'net_exposure', 'total_return', 'hit_rate',
  'vol_target', 'max_weight', 'min_weight', 'weight', 'tracking_error', 'downside_volatility'])

export const pct = (x, digits = 1) => (x === null || x === undefined || Number.isNaN(x) ? '–' : `${(x * 100).toFixed(digits)}%`)
export const num = (x, digits = 2) => (x === null || x === undefined || Number.isNaN(x) ? '–' : Number(x).toFixed(digits))

export function metric(key, value) {
  if (typeof value !== 'number') return value === null || value === undefined ? '–' : String(value)
  if (PERCENT_KEYS.has(key) || key.endsWith('_pct') || key.endsWith('drawdown') || key.includes('return')) return pct(value, 2)
  return Number.isInteger(value) ? String(value) : num(value, 3)
}

export const label = (key) => key.replace(/_/g, ' ').replace(/^./, (c) => c.toUpperCase())

export function when(iso) {
  if (!iso) return '–'
  const d = new Date(iso)
  return Number.isNaN(d.getTime()) ? String(iso) : d.toISOString().replace('T', ' ').slice(0, 19) + 'Z'
}

export function download(name, text, type = 'text/csv') {
  const url = URL.createObjectURL(new Blob([text], { type }))
  const a = document.createElement('a')
  a.href = url
  a.download = name
  document.body.appendChild(a)
  a.click()
  a.remove()
  setTimeout(() => URL.revokeObjectURL(url), 1000)
}

export function csv(rows, columns) {
  const cell = (v) => { const s = v === null || v === undefined ? '' : String(v); return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s }
  return [columns.join(','), ...rows.map((r) => columns.map((c) => cell(r[c])).join(','))].join('\n') + '\n'
}
