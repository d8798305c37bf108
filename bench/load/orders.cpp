#include "bench/load/orders.hpp"

#include <cstdio>
#include <random>
#include <string_view>

namespace possync::load {

namespace {

struct Product {
  int id;                 // 0: the product is keyed by `sku` instead
  std::string_view sku;
  std::string_view name;
  double price;
};

// A café-restaurant's menu; ids mix integers and SKU strings as real POS
// catalogs do, and names carry non-ASCII text.
constexpr Product kProducts[] = {
    {31, "", "Margherita", 9.5},           {32, "", "Quattro Formaggi", 12.0},
    {33, "", "Diavola", 11.0},             {34, "", "Calzone", 11.5},
    {41, "", "Caesar Salad", 8.9},         {42, "", "Salada de Quinoa", 9.4},
    {51, "", "Spaghetti Carbonara", 12.5}, {52, "", "Penne all'Arrabbiata", 10.5},
    {61, "", "Hambúrguer da Casa", 13.9},  {62, "", "Frango Grelhado", 12.9},
    {71, "", "Batata Frita", 4.5},         {72, "", "Onion Rings", 4.9},
    {0, "sku-77", "Água com gás", 2.0},    {0, "sku-78", "Água sem gás", 1.8},
    {0, "sku-81", "Coca-Cola 350ml", 3.5}, {0, "sku-82", "Suco de Laranja", 4.2},
    {0, "sku-90", "Cerveja Pilsen 600ml", 6.9}, {0, "sku-91", "Vinho Tinto (taça)", 7.5},
    {101, "", "Espresso", 2.2},            {102, "", "Cappuccino", 3.4},
    {103, "", "Café com Leite", 2.9},      {111, "", "Tiramisù", 6.5},
    {112, "", "Pudim de Leite", 5.0},      {113, "", "Crème brûlée", 6.9},
};

constexpr std::string_view kLineNotes[] = {"extra basil", "no onions", "well done", "no ice",
                                           "gluten free", "sauce on the side", "sem açúcar"};
constexpr std::string_view kOrderNotes[] = {"allergy: peanuts", "birthday: bring candles", "takeaway",
                                            "customer waiting at the bar"};
constexpr std::string_view kCustomers[] = {"Ana Souza", "João Pereira", "Maria Oliveira", "Lukas Müller",
                                           "Chloé Martin", "Kenji Tanaka"};

void append_money(std::string& out, double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  std::string_view s(buf);
  while (s.back() == '0') s.remove_suffix(1);  // 9.50 → 9.5, 2.00 → 2.
  if (s.back() == '.') s.remove_suffix(1);
  out += s;
}

void append_string(std::string& out, std::string_view s) {
  out += '"';
  out += s;  // the fixed texts above need no escaping
  out += '"';
}

std::string make_order(int lines, std::mt19937_64& rng, int serial) {
  auto pick = [&rng](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
  auto chance = [&rng](int percent) { return static_cast<int>(rng() % 100) < percent; };

  std::string o;
  o.reserve(static_cast<std::size_t>(120 + lines * 110));
  char name[48];
  std::snprintf(name, sizeof name, "Order %05d-%03d-%04d", 1 + serial % 90000, 1 + serial % 7, serial);
  o += "{\"name\":";
  append_string(o, name);
  o += ",\"table\":";
  append_string(o, "T" + std::to_string(1 + pick(40)));
  o += ",\"guests\":" + std::to_string(1 + pick(6));
  o += ",\"note\":";
  if (chance(20)) {
    append_string(o, kOrderNotes[pick(std::size(kOrderNotes))]);
  } else {
    o += "null";
  }
  o += ",\"customer\":";
  if (chance(30)) {
    o += "{\"id\":" + std::to_string(1 + pick(5000)) + ",\"name\":";
    append_string(o, kCustomers[pick(std::size(kCustomers))]);
    o += ",\"phone\":\"+55 11 5555-0" + std::to_string(100 + pick(900)) + "\"}";
  } else {
    o += "null";
  }
  o += ",\"lines\":[";
  for (int i = 0; i < lines; ++i) {
    const auto& p = kProducts[pick(std::size(kProducts))];
    if (i != 0) o += ',';
    o += "{\"product_id\":";
    if (p.id != 0) {
      o += std::to_string(p.id);
    } else {
      append_string(o, p.sku);
    }
    o += ",\"name\":";
    append_string(o, p.name);
    o += ",\"qty\":" + std::to_string(chance(75) ? 1 : 2 + pick(3));
    o += ",\"price_unit\":";
    append_money(o, p.price);
    if (chance(15)) o += ",\"discount\":" + std::to_string(5 * (1 + pick(4)));
    if (chance(20)) {
      o += ",\"note\":";
      append_string(o, kLineNotes[pick(std::size(kLineNotes))]);
    }
    o += '}';
  }
  o += "]}";
  return o;
}

}  // namespace

OrderPool::OrderPool(int lines, int variants, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::size_t total = 0;
  bodies_.reserve(static_cast<std::size_t>(variants));
  for (int i = 0; i < variants; ++i) {
    bodies_.push_back(make_order(lines, rng, i + 1));
    total += bodies_.back().size();
  }
  average_bytes_ = total / bodies_.size();
}

}  // namespace possync::load
