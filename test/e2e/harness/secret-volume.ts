// A directory laid out the way the kubelet projects a Secret volume, and renewed the way it renews one:
// files in a timestamped directory, `..data` a symlink to it, `tls.crt -> ..data/tls.crt`; an update
// writes a new directory and renames a new `..data` symlink over the old one, so both files change at once.
import { mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

let generation = 0;

function writeGeneration(dir: string, files: Record<string, string>): string {
  const name = `..${new Date().toISOString().replace(/[:.]/g, '_')}.${process.pid}.${generation++}`;
  mkdirSync(join(dir, name), { mode: 0o700 });
  for (const [file, contents] of Object.entries(files)) writeFileSync(join(dir, name, file), contents, { mode: 0o600 });
  return name;
}

/** Creates the volume with `files`; returns the paths of the user-visible files. */
export function createSecretVolume(dir: string, files: Record<string, string>): Record<string, string> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  symlinkSync(writeGeneration(dir, files), join(dir, '..data'));
  const paths: Record<string, string> = {};
  for (const file of Object.keys(files)) {
    symlinkSync(join('..data', file), join(dir, file));
    paths[file] = join(dir, file);
  }
  return paths;
}

/** Replaces every file at once by one rename, as the kubelet's AtomicWriter does. */
export function updateSecretVolume(dir: string, files: Record<string, string>): void {
  const previous = readlinkSync(join(dir, '..data'));
  const next = writeGeneration(dir, files);
  symlinkSync(next, join(dir, '..data_tmp'));
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  rmSync(join(dir, previous), { recursive: true, force: true });
}
