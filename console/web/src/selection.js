// The CIs picked for a what-if, kept in this tab while the user searches and browses.
const KEY = 'cmdb.whatif';

export function picked() {
  try {
    const v = JSON.parse(sessionStorage.getItem(KEY) || '[]');
    return Array.isArray(v) ? v.filter((x) => x && typeof x.id === 'string') : [];
  } catch (_) {
    return [];
  }
}

export function setPicked(list) {
  sessionStorage.setItem(KEY, JSON.stringify(list));
  window.dispatchEvent(new Event('cmdb:picked'));
}

export function toggle(ci) {
  const list = picked();
  const i = list.findIndex((x) => x.id === ci.id);
  if (i >= 0) list.splice(i, 1);
  else list.push({ id: ci.id, name: ci.name, class: ci.class });
  setPicked(list);
  return i < 0;
}

export function isPicked(id) {
  return picked().some((x) => x.id === id);
}
