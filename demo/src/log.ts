/** What an entry is about; it picks the entry's colour. */
export type LogKind = 'request' | 'token' | 'leader' | 'cleared' | 'info' | 'error';

const MAX_ENTRIES = 60;

/** The tab's activity list, newest first. */
export function createLog(list: HTMLOListElement): { add(kind: LogKind, text: string): void } {
  return {
    add(kind, text) {
      const item = document.createElement('li');
      item.className = `entry is-${kind}`;
      const time = document.createElement('time');
      time.textContent = new Date().toLocaleTimeString('en-GB', { hour12: false });
      const label = document.createElement('span');
      label.textContent = text;
      item.append(time, label);
      list.prepend(item);
      while (list.children.length > MAX_ENTRIES) list.lastElementChild?.remove();
    },
  };
}
