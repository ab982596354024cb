#!/bin/sh
# pack-static-libpython.sh ARCHIVE ROOT PREFIX...
# Moves the static libpython*.a of each PREFIX (a directory in ROOT) into the
# xz archive ARCHIVE (paths relative to ROOT, as manylinux's
# static-libs-for-embedding-only.tar.xz), keeping what ARCHIVE already holds
# for those prefixes and dropping what it holds for others. Reproducible:
# sorted names, no owners, the files' own times.
set -eu
archive=$1 root=$2
shift 2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ -f "$archive" ]; then
  tar -C "$work" -xJf "$archive"
fi
cd "$root"
for prefix do
  find "$prefix" -name 'libpython*.a' | while read -r lib; do
    case $lib in
      "$prefix"/lib/libpython*.a)
        mkdir -p "$work/$prefix/lib"
        cp -p "$lib" "$work/$prefix/lib/" ;;
    esac
  done
done
# only the prefixes asked for
for dir in "$work"/*; do
  [ -e "$dir" ] || continue
  keep=no
  for prefix do [ "$(basename "$dir")" = "$prefix" ] && keep=yes; done
  [ $keep = yes ] || rm -rf "$dir"
done
(cd "$work" && find . -name 'libpython*.a' | sed 's|^\./||' | LC_ALL=C sort > "$work/.list")
XZ_OPT=-9e tar -C "$work" --owner=0 --group=0 --numeric-owner -cJf "$archive.tmp" -T "$work/.list"
mv "$archive.tmp" "$archive"
# then the copies in the prefixes (lib/ and the config directory)
for prefix do
  find "$prefix" -name 'libpython*.a' -exec rm -f {} +
done
