// Writes objects as a YAML stream that kubectl reads back as the same objects (`check
// --mutated-out`). The yaml package writes YAML for its own reading; kubectl's go-yaml v2 reads
// some of it otherwise: strings such as `0X1F`, `0o17` or `1_000` written plain are numbers to it,
// a key `<<` a merge, and U+0085, U+2028 and U+2029 break lines even inside quotes. Such strings,
// and those holding a tab, are written double quoted, with those characters escaped.
import { stringify, type Tags } from 'yaml';
import { readsPlainAsString } from './go-yaml.js';

const STR_TAG = 'tag:yaml.org,2002:str';
const MERGE_TAG = 'tag:yaml.org,2002:merge';

/**
 * Characters that go-yaml reads otherwise than the yaml package writes them, and JSON.stringify
 * leaves as they are: line breaks to go-yaml, a byte order mark, C1 controls.
 */
const GO_ESCAPED = /[\u0085\u2028\u2029\ufeff\u007f-\u009f]/;
const GO_ESCAPED_ALL = new RegExp(GO_ESCAPED.source, 'g');

const YAML_ESCAPES: Record<string, string> = { '\u0085': '\\N', '\u2028': '\\L', '\u2029': '\\P' };

/** `text` as a double-quoted YAML scalar, in the escapes go-yaml reads (JSON's, and \N \L \P \x \u). */
function doubleQuoted(text: string): string {
  return JSON.stringify(text).replace(GO_ESCAPED_ALL, (c) => YAML_ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * Lines of a multi-line string that start with a space: the yaml package writes such a string as a
 * block scalar with an indentation indicator, or one whose only line is blanks, which YAML readers
 * (kubectl's among them) read otherwise.
 */
const LINE_STARTING_WITH_SPACE = /(?:^|\n) /;

/**
 * Whether the yaml package's own choice of style could be read otherwise by kubectl. A key `<<`
 * written plain is a merge to go-yaml (its resolve reads the text as a string, so it is checked
 * apart); quoted, it is the key `<<`.
 */
function needsGoQuoting(text: string): boolean {
  // A tab too: the yaml package leaves one at the start of a block scalar's line, where go-yaml takes it for indentation.
  return GO_ESCAPED.test(text) || text.includes('\t') || (text.includes('\n') && LINE_STARTING_WITH_SPACE.test(text)) || text === '<<' || !readsPlainAsString(text);
}

/**
 * The YAML 1.1 tags with strings written as above; YAML 1.1 so that `yes` or `0644` are quoted too.
 * Without its merge tag, which would write a string `<<` plain: a merge to kubectl.
 */
function goSafeTags(tags: Tags): Tags {
  return tags.filter((tag) => typeof tag === 'string' || tag.tag !== MERGE_TAG).map((tag) => {
    if (typeof tag === 'string' || tag.tag !== STR_TAG || !tag.stringify) return tag;
    const stringifyString = tag.stringify;
    return {
      ...tag,
      stringify: (item, ctx, onComment, onChompKeep) => {
        const text = typeof item.value === 'string' ? item.value : String(item.value);
        return needsGoQuoting(text) ? doubleQuoted(text) : stringifyString(item, ctx, onComment, onChompKeep);
      },
    };
  });
}

/** The objects as one YAML stream, `---` between them, each read back by kubectl as it is. */
export function writeManifests(objects: readonly unknown[]): string {
  return objects.map((object) => stringify(object, { version: '1.1', lineWidth: 0, customTags: goSafeTags })).join('---\n');
}
