// The cart of the POS page: lines (product, qty, unit price, discount),
// customer and note, kept in localStorage per session so a reload keeps it.
// toOrder() gives the protocol's order object; load() takes a delivered one
// back, keeping every field it does not show (table, pricelist, line extras)
// so that nothing of the sender's order is lost on this terminal.
import { $, h, lineTotal, money } from './dom.js';
import { CUSTOMERS, PRODUCTS } from './catalog.js';

function newRef(session) {
  const t = new Date();
  const pad = (n) => String(n).padStart(2, '0');
  const stamp = `${t.getFullYear()}${pad(t.getMonth() + 1)}${pad(t.getDate())}-${pad(t.getHours())}${pad(t.getMinutes())}${pad(t.getSeconds())}`;
  return `Order ${session} ${stamp}-${Math.random().toString(36).slice(2, 6)}`;
}

const customerKey = (c) => (c ? `c:${JSON.stringify(c.id)}` : '');

export class Cart {
  constructor(session) {
    this.session = session;
    this.storageKey = `possync:pos:cart:${session}`;
    this.customers = [...CUSTOMERS];
    this.state = this.restore() || this.fresh();
    this.renderProducts();
    $('cart-note').oninput = (e) => this.update({ note: e.target.value }, false);
    $('cart-customer').onchange = (e) => {
      const c = this.customers.find((x) => customerKey(x) === e.target.value) || null;
      this.update({ customer: c }, false);
    };
    $('cart-clear').onclick = () => this.reset();
    this.render();
  }

  fresh() {
    return { ref: newRef(this.session), lines: [], customer: null, note: '', extra: {}, origin: null };
  }

  restore() {
    try {
      const s = JSON.parse(localStorage.getItem(this.storageKey) || 'null');
      return s && Array.isArray(s.lines) ? s : null;
    } catch {
      return null;
    }
  }

  save() {
    try {
      localStorage.setItem(this.storageKey, JSON.stringify(this.state));
    } catch {
      // Storage full or unavailable: the cart still works for this page.
    }
  }

  update(changes, rerender = true) {
    Object.assign(this.state, changes);
    this.save();
    if (rerender) this.render();
    else this.renderTotals();
  }

  get isEmpty() {
    return this.state.lines.length === 0;
  }

  /** Starts a new, empty cart with a new ref. */
  reset() {
    this.state = this.fresh();
    this.save();
    this.render();
  }

  add(product) {
    const lines = this.state.lines;
    const same = lines.find((l) => l.product_id === product.product_id && !l.discount && !l.note);
    if (same) same.qty = Number(same.qty) + 1;
    else lines.push({ product_id: product.product_id, name: product.name, qty: 1, price_unit: product.price_unit, discount: 0 });
    this.update({ lines });
  }

  /** Loads a delivered order: the same lines, customer, note and every other field. */
  load(order, origin) {
    const { lines = [], customer = null, note = '', ...extra } = order;
    if (customer && !this.customers.some((c) => customerKey(c) === customerKey(customer))) this.customers.push(customer);
    this.state = {
      ref: newRef(this.session),
      lines: lines.map((l) => ({ ...l, discount: l.discount ?? 0 })),
      customer,
      note: note ?? '',
      extra,
      origin,
    };
    this.save();
    this.render();
  }

  /** The problems that would make the broker refuse the order, in words, or null. */
  problem() {
    if (this.isEmpty) return 'The cart is empty: add a product first.';
    for (const l of this.state.lines) {
      if (!Number.isFinite(Number(l.qty)) || Number(l.qty) === 0) return `${l.name}: the quantity must be a number other than 0.`;
      if (!Number.isFinite(Number(l.price_unit))) return `${l.name}: the unit price must be a number.`;
      const d = Number(l.discount);
      if (!Number.isFinite(d) || d < 0 || d > 100) return `${l.name}: the discount must be between 0 and 100 %.`;
    }
    return null;
  }

  /** The protocol's order object (PROTOCOL.md §4.2). */
  toOrder() {
    const { ref, lines, customer, note, extra } = this.state;
    const order = {
      ...extra,
      name: ref,
      lines: lines.map((l) => {
        const line = { ...l, qty: Number(l.qty), price_unit: Number(l.price_unit), discount: Number(l.discount) || 0 };
        if (!line.discount) delete line.discount;
        return line;
      }),
    };
    if (customer) order.customer = customer;
    if (note) order.note = note;
    return order;
  }

  // ---- rendering ---------------------------------------------------------------

  renderProducts() {
    $('product-grid').replaceChildren(
      ...PRODUCTS.map((p) =>
        h(
          'button',
          { class: 'product', type: 'button', dataset: { productId: String(p.product_id), kind: p.kind }, onclick: () => this.add(p) },
          h('span', { class: 'icon', 'aria-hidden': 'true' }, p.name.slice(0, 1)),
          h('span', { class: 'pname' }, p.name),
          h('span', { class: 'pprice' }, money(p.price_unit)),
        ),
      ),
    );
  }

  render() {
    const { ref, lines, customer, note, origin } = this.state;
    $('cart-ref').textContent = ref;
    $('cart-origin').hidden = !origin;
    $('cart-origin').textContent = origin ? `Delivered from ${origin}` : '';
    $('cart-note').value = note;
    $('cart-customer').replaceChildren(
      h('option', { value: '' }, '— No customer —'),
      ...this.customers.map((c) => h('option', { value: customerKey(c) }, c.name)),
    );
    $('cart-customer').value = customerKey(customer);
    $('cart-lines').replaceChildren(...lines.map((line, i) => this.lineRow(line, i)));
    $('cart-empty').hidden = lines.length > 0;
    this.renderTotals();
  }

  lineRow(line, index) {
    const lines = this.state.lines;
    const set = (field) => (e) => {
      lines[index][field] = e.target.value === '' ? '' : Number(e.target.value);
      this.update({ lines }, false);
      row.querySelector('.line-total').textContent = money(lineTotal(lines[index]));
    };
    const step = (delta) => () => {
      const qty = Number(lines[index].qty) + delta;
      if (qty === 0) lines.splice(index, 1);
      else lines[index].qty = qty;
      this.update({ lines });
    };
    const num = (cls, field, attrs) =>
      h('input', { class: cls, type: 'number', inputmode: 'decimal', value: String(line[field] ?? ''), oninput: set(field), 'aria-label': `${line.name} ${field}`, ...attrs });
    const row = h(
      'tr',
      { dataset: { index: String(index), productId: String(line.product_id) } },
      h('td', { class: 'name' }, line.name, line.note ? h('small', { class: 'line-note' }, line.note) : null),
      h(
        'td',
        { class: 'qty-cell' },
        h('button', { type: 'button', class: 'step', onclick: step(-1), 'aria-label': `one ${line.name} less` }, '−'),
        num('qty', 'qty', { step: 'any' }),
        h('button', { type: 'button', class: 'step', onclick: step(1), 'aria-label': `one ${line.name} more` }, '+'),
      ),
      h('td', {}, num('price', 'price_unit', { step: '0.01' })),
      h('td', {}, num('discount', 'discount', { step: '1', min: '0', max: '100' })),
      h('td', { class: 'num line-total' }, money(lineTotal(line))),
      h('td', {}, h('button', { type: 'button', class: 'remove', onclick: () => { lines.splice(index, 1); this.update({ lines }); }, 'aria-label': `remove ${line.name}` }, '✕')),
    );
    return row;
  }

  renderTotals() {
    $('cart-total').textContent = money(this.state.lines.reduce((s, l) => s + (lineTotal(l) || 0), 0));
  }
}
