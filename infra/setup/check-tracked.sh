#!/usr/bin/env bash
# Fails if git tracks a build output or a file over 5 MB (the lockfile and
# the README screenshots aside): such files bloat every clone and image.
set -euo pipefail
cd "$(dirname "$0")/../.."

bad=0
while IFS= read -r -d '' f; do
	[[ -f $f ]] || continue
	case $f in
	client/package-lock.json | docs/*.png) continue ;;
	esac
	size=$(stat -c %s "$f")
	if ((size > 5000000)); then
		echo "tracked file over 5 MB: $f ($size bytes)"
		bad=1
	fi
	case $f in
	bin/* | build/* | results/* | client/dist/* | client/node_modules/* | terraform/.terraform/* | *.tfstate | *.tfstate.* | *.test | *.out | server)
		echo "tracked build output: $f"
		bad=1
		;;
	esac
	if [[ $(head -c 4 "$f" | od -An -c | tr -d ' ') == '177ELF' ]]; then
		echo "tracked binary: $f"
		bad=1
	fi
done < <(git ls-files -z)
exit $bad
