/** The lines of a credential or key file that say something (trimmed; blank and `#` comment lines skipped), with their 1-based numbers. */
export function* contentLines(text: string): Generator<{ readonly line: string; readonly number: number }> {
  const lines = text.split('\n');
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    yield { line, number: index + 1 };
  }
}
