// Small DOM and formatting helpers shared by the POS page's modules.

/** Creates an element: h('button', { class: 'x', onclick: fn, dataset: { id: 1 } }, 'text', child…). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key in el && typeof value !== 'string') el[key] = value;
    else el.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

export const $ = (id) => document.getElementById(id);

export function money(n) {
  return (Math.round(Number(n) * 100) / 100).toFixed(2);
}

/** qty × unit price less the line's discount (percent). */
export function lineTotal(line) {
  return Number(line.qty) * Number(line.price_unit) * (1 - (Number(line.discount) || 0) / 100);
}

export function orderTotal(order) {
  return (order.lines || []).reduce((sum, l) => sum + lineTotal(l), 0);
}

export function timeText(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const sameDay = d.toDateString() === new Date().toDateString();
  const time = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  return sameDay ? time : `${d.toLocaleDateString()} ${time}`;
}

/** A compact read-only view of an order's lines, customer and note (inbox and sent list). */
export function orderSummary(order) {
  const lines = h(
    'ul',
    { class: 'summary-lines' },
    (order.lines || []).map((l) =>
      h(
        'li',
        { dataset: { productId: String(l.product_id) } },
        h('span', { class: 'q' }, `${l.qty} ×`),
        h('span', { class: 'n' }, l.name, l.note ? h('small', {}, ` — ${l.note}`) : null),
        h('span', { class: 'p' }, money(l.price_unit), l.discount ? h('small', { class: 'disc' }, ` −${l.discount}%`) : null),
      ),
    ),
  );
  const meta = [];
  if (order.customer) meta.push(h('span', { class: 'customer' }, h('b', { class: 'label' }, 'Customer '), order.customer.name));
  if (order.table) meta.push(h('span', {}, h('b', { class: 'label' }, 'Table '), order.table));
  if (order.note) meta.push(h('span', { class: 'note' }, h('b', { class: 'label' }, 'Note '), order.note));
  meta.push(h('span', { class: 'sum' }, 'Total ', h('b', {}, money(orderTotal(order)))));
  return h('div', { class: 'summary' }, lines, h('div', { class: 'summary-meta' }, meta));
}
