import { readFileSync } from 'node:fs';

/** The status page (src/status/page.html: HTML with its CSS and script inline), read once. */
let page: string | null = null;

export function statusPageHtml(): string {
  page ??= readFileSync(new URL('./page.html', import.meta.url), 'utf8');
  return page;
}
