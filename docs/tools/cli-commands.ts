/** Sub-command names listed under "Commands:" in commander's help (continuation lines are indented further). */
export function subcommands(help: string): string[] {
  const start = help.indexOf('\nCommands:\n');
  if (start < 0) return [];
  const names: string[] = [];
  for (const line of help.slice(start + '\nCommands:\n'.length).split('\n')) {
    if (line.trim() === '') break;
    const match = /^ {2}([a-z][\w-]*)/.exec(line);
    if (match && match[1] !== 'help') names.push(match[1]!);
  }
  return names;
}
