// The demo catalog and customers of the POS page. A real front-end (Odoo's
// POS) has its own; see docs/pos-integration.md for the field mapping.
// product_id is an integer or a string, as in the protocol; `kind` colours the tile.
export const PRODUCTS = [
  { product_id: 31, name: 'Margherita', price_unit: 9.5, kind: 'pizza' },
  { product_id: 32, name: 'Pepperoni', price_unit: 11.0, kind: 'pizza' },
  { product_id: 40, name: 'Cheeseburger', price_unit: 12.5, kind: 'grill' },
  { product_id: 41, name: 'Fries', price_unit: 3.5, kind: 'grill' },
  { product_id: 50, name: 'Caesar salad', price_unit: 8.0, kind: 'cold' },
  { product_id: 51, name: 'Soup of the day', price_unit: 6.0, kind: 'soup' },
  { product_id: 60, name: 'Tiramisu', price_unit: 5.5, kind: 'dessert' },
  { product_id: 'sku-77', name: 'Água com gás', price_unit: 2.0, kind: 'drink' },
  { product_id: 'sku-78', name: 'Lemonade', price_unit: 3.0, kind: 'drink' },
  { product_id: 'sku-80', name: 'Beer', price_unit: 4.5, kind: 'drink' },
  { product_id: 'sku-90', name: 'Espresso', price_unit: 1.8, kind: 'drink' },
  { product_id: 'sku-91', name: 'Cappuccino', price_unit: 2.8, kind: 'drink' },
];

export const CUSTOMERS = [
  { id: 88, name: 'Ana Souza', phone: '+55 11 5555-0100' },
  { id: 12, name: 'Bruno Lima', phone: '+55 11 5555-0199' },
  { id: 'c-301', name: 'Chen Wei', phone: '+86 10 5555 0123' },
];
