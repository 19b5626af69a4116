import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brokenLinks, headingAnchors, relativeLinks } from '../../docs/tools/links.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

test('every relative link in README.md and docs/ names an existing file and heading', () => {
  const broken = brokenLinks(ROOT);
  assert.deepEqual(
    broken.map((link) => `${link.file}:${link.line} ${link.target}: ${link.problem}`),
    [],
  );
});

test('README.md stays a front page: at most 12,000 characters', () => {
  const length = readFileSync(join(ROOT, 'README.md'), 'utf8').length;
  assert.ok(length <= 12_000, `README.md has ${length} characters; move detail into docs/`);
});

test('the link check reports a missing file, a missing heading and a missing heading of the same page', () => {
  const root = mkdtempSync(join(tmpdir(), 'docs-links-'));
  try {
    mkdirSync(join(root, 'docs', 'a'), { recursive: true });
    writeFileSync(join(root, 'README.md'), '# Top\n\n[ok](docs/a/page.md#a-heading) [gone](docs/missing.md)\n');
    writeFileSync(
      join(root, 'docs', 'a', 'page.md'),
      '# Page\n\n## A heading\n\n[up](../../README.md#top) [bad](../../README.md#nowhere) [self](#a-heading) [self-bad](#b)\n',
    );
    const problems = brokenLinks(root).map((link) => `${link.file} ${link.target}`);
    assert.deepEqual(problems.sort(), ['README.md docs/missing.md', 'docs/a/page.md #b', 'docs/a/page.md ../../README.md#nowhere'].sort());
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('links inside code are text, absolute URLs are not checked', () => {
  const markdown = ['[a](one.md) `[b](two.md)` [c](https://example.com/x.md)', '```', '[d](three.md)', '```', '[e]: four.md'].join('\n');
  assert.deepEqual(
    relativeLinks(markdown).map((link) => link.target),
    ['one.md', 'four.md'],
  );
});

test("heading anchors follow GitHub's slugs, duplicates numbered", () => {
  const anchors = headingAnchors(
    ['# Choosing a watermark: `npm run cli -- watermark …`', '## `npm run cli -- stack up`', '### 3. Configure', '## Notes', '## Notes', '```', '# not a heading', '```'].join('\n'),
  );
  assert.deepEqual([...anchors], ['choosing-a-watermark-npm-run-cli----watermark-', 'npm-run-cli----stack-up', '3-configure', 'notes', 'notes-1']);
});
