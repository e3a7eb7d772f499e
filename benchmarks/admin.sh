#!/usr/bin/env bash
# The admin's script over a list of SIP domains (one per line in FILE):
#   admin.sh seq FILE     one domain after the other
#   admin.sh xargs FILE   16 domains at a time (xargs -P16)
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mode=$1
file=$2
case "$mode" in
    seq)
        while read -r d; do
            "$here/admin-domain.sh" "$d"
        done < "$file"
        ;;
    xargs)
        xargs -P16 -n1 "$here/admin-domain.sh" < "$file"
        ;;
    *)
        echo "usage: admin.sh seq|xargs FILE" >&2
        exit 2
        ;;
esac
