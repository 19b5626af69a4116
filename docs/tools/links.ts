import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

/**
 * The docs link check: every relative Markdown link in README.md and docs/**\/*.md must name a file
 * that exists and, with a #fragment into a Markdown file, a heading of that file. Links inside code
 * (fenced blocks, `spans`) are text, not links, and are skipped.
 */
export interface BrokenLink {
  readonly file: string;
  readonly line: number;
  readonly target: string;
  readonly problem: string;
}

export function markdownFiles(root: string): string[] {
  const found = [join(root, 'README.md')];
  const visit = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) visit(path);
      else if (name.endsWith('.md')) found.push(path);
    }
  };
  visit(join(root, 'docs'));
  return found;
}

export function brokenLinks(root: string, files: readonly string[] = markdownFiles(root)): BrokenLink[] {
  const broken: BrokenLink[] = [];
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    for (const { target, line } of relativeLinks(text)) {
      const report = (problem: string): void => {
        broken.push({ file: relative(root, file), line, target, problem });
      };
      const [path = '', fragment] = target.split('#', 2) as [string, string | undefined];
      const destination = path === '' ? file : resolve(dirname(file), decodeURI(path));
      if (!existsSync(destination)) {
        report('no such file');
        continue;
      }
      if (fragment === undefined || fragment === '') continue;
      if (!destination.endsWith('.md')) continue;
      if (!headingAnchors(readFileSync(destination, 'utf8')).has(fragment)) report(`no heading #${fragment} in ${relative(root, destination)}`);
    }
  }
  return broken;
}

/** Links `[text](target)` and `[text]: target` outside code; absolute URLs are not checked. */
export function relativeLinks(markdown: string): Array<{ target: string; line: number }> {
  const links: Array<{ target: string; line: number }> = [];
  let fenced = false;
  markdown.split('\n').forEach((raw, index) => {
    if (/^\s*(```|~~~)/.test(raw)) {
      fenced = !fenced;
      return;
    }
    if (fenced) return;
    const line = raw.replace(/`[^`]*`/g, '');
    const targets = [
      ...[...line.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((match) => match[1]!),
      ...[...line.matchAll(/^\s*\[[^\]]+\]:\s+(\S+)/g)].map((match) => match[1]!),
    ];
    for (const target of targets) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
      links.push({ target, line: index + 1 });
    }
  });
  return links;
}

/** The anchors GitHub gives a file's headings (duplicates get -1, -2, …). */
export function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const counts = new Map<string, number>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    const heading = fenced ? null : /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!heading) continue;
    const base = slug(heading[1]!);
    const seen = counts.get(base) ?? 0;
    counts.set(base, seen + 1);
    anchors.add(seen === 0 ? base : `${base}-${seen}`);
  }
  return anchors;
}

/** GitHub's slug: lower case; letters, digits, spaces, `-` and `_` kept; spaces become `-`. */
export function slug(heading: string): string {
  return heading
    .replace(/<[^>]+>/g, '')
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}
