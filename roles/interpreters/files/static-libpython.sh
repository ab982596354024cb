#!/bin/sh
# The archive of the static libpythons (manylinux's
# static-libs-for-embedding-only.tar.xz), made from one part per interpreter,
# so that each interpreter compresses its own and a changed interpreter does
# not recompress the others:
#
#   static-libpython.sh part PART ROOT PREFIX
#     PART: the static libpython*.a of ROOT/PREFIX/lib (names relative to
#     ROOT), debug info stripped, as a tar without its two end blocks,
#     compressed as one xz stream
#   static-libpython.sh join ARCHIVE PART...
#     ARCHIVE: the parts, one xz stream after another, then a stream of the
#     end blocks; xz reads concatenated streams as one, so tar sees one archive
set -eu
mode=${1:-}
[ $# -gt 0 ] && shift
case $mode in
  part)
    part=$1 root=$2 prefix=$3
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    (cd "$root" && find "$prefix/lib" -maxdepth 1 -name 'libpython*.a' | LC_ALL=C sort) > "$work/list"
    if [ ! -s "$work/list" ]; then
      echo "static-libpython.sh: no static libpython in $root/$prefix/lib" >&2
      exit 1
    fi
    # what a static link needs, without the debug info (the engine strips the
    # prefix only after this step)
    (cd "$root" && xargs strip --strip-debug < "$work/list")
    # one 512-byte block per record: the archive ends with exactly two zero blocks
    tar -C "$root" -b1 --owner=0 --group=0 --numeric-owner -cf "$work/part.tar" -T "$work/list"
    size=$(wc -c < "$work/part.tar")
    if [ "$(tail -c 1024 "$work/part.tar" | tr -d '\000' | wc -c)" -ne 0 ]; then
      echo "static-libpython.sh: the tar does not end with its two end blocks" >&2
      exit 1
    fi
    mkdir -p "$(dirname "$part")"
    head -c $((size - 1024)) "$work/part.tar" | xz -9e > "$part.tmp"
    mv "$part.tmp" "$part"
    ;;
  join)
    archive=$1
    shift
    mkdir -p "$(dirname "$archive")"
    cat "$@" > "$archive.tmp"
    head -c 1024 /dev/zero | xz -9e >> "$archive.tmp"
    mv "$archive.tmp" "$archive"
    ;;
  *)
    echo "usage: static-libpython.sh part PART ROOT PREFIX | join ARCHIVE PART..." >&2
    exit 2
    ;;
esac
