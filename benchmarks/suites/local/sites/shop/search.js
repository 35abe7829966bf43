// Matches every word of ?q= against a product's name, SKU, maker and category.
const query = new URLSearchParams(location.search).get("q") || "";
document.getElementById("q").value = query;
const words = query.toLowerCase().split(/\s+/).filter(Boolean);
fetch("products.json").then((r) => r.json()).then((items) => {
  const count = document.getElementById("count");
  if (!words.length) { count.textContent = "Type a word and press Search."; return; }
  const hits = items.filter((p) => {
    const text = [p.name, p.sku, p.maker, p.category].join(" ").toLowerCase();
    return words.every((w) => text.includes(w));
  });
  count.textContent = `${hits.length} product(s) match "${query}"`;
  const list = document.getElementById("results");
  for (const p of hits) {
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = p.url;
    link.textContent = p.name;
    item.append(link, ` (${p.sku}), by ${p.maker}, ${p.price}`);
    list.append(item);
  }
});
