import { describe, expect, it } from 'vitest';
import { ImageReferenceError, matchesPattern, normalisedName, parseImageReference, parseRegistryPattern } from './image-reference.js';

describe('parseImageReference normalises as container runtimes resolve references', () => {
  it.each([
    ['nginx', 'docker.io/library/nginx', undefined, undefined],
    ['nginx:1.27', 'docker.io/library/nginx', '1.27', undefined],
    ['library/nginx', 'docker.io/library/nginx', undefined, undefined],
    ['docker.io/nginx', 'docker.io/library/nginx', undefined, undefined],
    ['index.docker.io/nginx', 'docker.io/library/nginx', undefined, undefined],
    ['index.docker.io/acme/app:v1', 'docker.io/acme/app', 'v1', undefined],
    ['registry-1.docker.io/acme/app', 'docker.io/acme/app', undefined, undefined],
    ['acme/app', 'docker.io/acme/app', undefined, undefined],
    ['ghcr.io/acme/app:v1', 'ghcr.io/acme/app', 'v1', undefined],
    ['GHCR.io/acme/app', 'ghcr.io/acme/app', undefined, undefined],
    ['localhost/app', 'localhost/app', undefined, undefined],
    ['localhost:5000/app:dev', 'localhost:5000/app', 'dev', undefined],
    ['registry.io:443/team/app', 'registry.io:443/team/app', undefined, undefined],
    ['[::1]:5000/app', '[::1]:5000/app', undefined, undefined],
    ['Registry/app', 'registry/app', undefined, undefined],
    [`ghcr.io/acme/app@sha256:${'a'.repeat(64)}`, 'ghcr.io/acme/app', undefined, `sha256:${'a'.repeat(64)}`],
    [`ghcr.io/acme/app:v1@sha256:${'b'.repeat(64)}`, 'ghcr.io/acme/app', 'v1', `sha256:${'b'.repeat(64)}`],
    ['my_app/a__b/c-d.e', 'docker.io/my_app/a__b/c-d.e', undefined, undefined],
  ])('%s -> %s', (input, name, tag, digest) => {
    const reference = parseImageReference(input);
    expect(normalisedName(reference)).toBe(name);
    expect(reference.tag).toBe(tag);
    expect(reference.digest).toBe(digest);
  });

  it.each([
    ['', 'empty'],
    ['app/UPPER', 'invalid repository'], // an upper-case first component would be a host; later ones are paths
    ['ghcr.io/Acme/app', 'invalid repository'],
    ['ghcr.io/acme/app:', 'invalid tag'],
    ['ghcr.io/acme/app:-bad', 'invalid tag'],
    ['ghcr.io/acme/app@sha256:abc', 'invalid digest'],
    [`ghcr.io/acme/app@sha256:${'a'.repeat(31)}`, 'invalid digest'],
    [`ghcr.io/acme/app@sha256:${'a'.repeat(63)}`, 'a sha256 digest has 64 hex digits'],
    [`ghcr.io/acme/app@sha256:${'a'.repeat(65)}`, 'a sha256 digest has 64 hex digits'],
    ['ghcr.io//app', 'invalid repository'],
    ['ghcr.io/acme/app/', 'invalid repository'],
    ['registry.io./app', 'invalid registry host'],
    ['-registry.io/app', 'invalid registry host'],
    ['http://registry.io/app', 'invalid'],
    ['ghcr.io/acme app', 'invalid'],
    [' nginx', 'invalid'],
    ['nginx\n', 'invalid'],
    ['a'.repeat(64).replace(/a/g, 'f'), 'bare 64-character hex'],
    // Image IDs: containerd runs the local image with that ID, from whatever registry it came.
    [`sha256:${'4e'.repeat(32)}`, 'an image ID names no repository'],
    [`sha384:${'ab'.repeat(48)}`, 'an image ID'],
    [`sha512:${'ab'.repeat(64)}`, 'an image ID'],
    [`blake3:${'ab'.repeat(32)}`, 'an image ID'],
    ['sha256:1.0', 'an image ID'],
    [`ghcr.io/${'a/'.repeat(130)}b`, 'longer than 255'],
  ])('refuses %j (%s)', (input, reason) => {
    expect(() => parseImageReference(input)).toThrow(ImageReferenceError);
    expect(() => parseImageReference(input)).toThrow(reason);
  });

  it('refuses values that are not strings with ImageReferenceError', () => {
    for (const value of [undefined, null, 42, {}, ['nginx']]) expect(() => parseImageReference(value)).toThrow(ImageReferenceError);
  });
});

describe('allowlist patterns', () => {
  const allows = (pattern: string, image: string) => matchesPattern(parseImageReference(image), parseRegistryPattern(pattern));

  it.each([
    ['registry.io', 'registry.io/app', true],
    ['registry.io', 'registry.io.evil.com/app', false],
    ['registry.io', 'evilregistry.io/app', false],
    ['registry.io', 'registry.io:5000/app', false],
    ['registry.io:5000', 'registry.io:5000/app', true],
    ['registry.io:5000', 'registry.io/app', false],
    ['docker.io/acme', 'acme/app', true],
    ['docker.io/acme', 'docker.io/acmeevil/app', false],
    ['docker.io/acme', 'acmeevil/app', false],
    // One component on Docker Hub is an official image: docker.io/acme is docker.io/library/acme.
    ['docker.io/acme', 'docker.io/acme', false],
    ['docker.io/library/acme', 'docker.io/acme', true],
    ['docker.io/library', 'nginx', true],
    ['docker.io/library', 'index.docker.io/library/nginx:1', true],
    ['docker.io/library', 'docker.io/acme/nginx', false],
    ['docker.io/library', 'evil.io/library/nginx', false],
    ['index.docker.io/library', 'nginx', true],
    ['ghcr.io/acme', 'ghcr.io/acme/team/app@sha256:' + 'c'.repeat(64), true],
    ['ghcr.io/acme', 'ghcr.io/acme-evil/app', false],
    ['ghcr.io/acme', 'ghcr.io/acme.evil/app', false],
    ['ghcr.io/acme', 'ghcr.io/ac/me', false],
    ['ghcr.io/acme/', 'ghcr.io/acme/app', true],
    ['GHCR.IO/acme', 'ghcr.io/acme/app', true],
    ['ghcr.io', 'ghcr.io.evil.com/app', false],
    ['ghcr.io', 'evil.com/ghcr.io/app', false],
    ['localhost:5000', 'localhost:5000/app', true],
    ['localhost', 'localhost:5000/app', false],
  ])('%s admits %s: %s', (pattern, image, expected) => {
    expect(allows(pattern, image)).toBe(expected);
  });

  it.each([
    ['https://ghcr.io', 'without a scheme'],
    ['*.acme.io', 'wildcards are not supported'],
    ['ghcr.io/acme@sha256:' + 'a'.repeat(64), 'not a tag or digest'],
    ['ghcr.io/acme:v1', 'is not a repository path'],
    ['ghcr.io/Acme', 'is not a repository path'],
    ['bad host/x', 'is not a registry host'],
  ])('refuses the entry %j (%s)', (entry, reason) => {
    expect(() => parseRegistryPattern(entry)).toThrow(reason);
  });
});
