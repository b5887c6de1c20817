#!/usr/bin/python3
"""render-conf.py TEMPLATE OUT KEY=VALUE...: replace @KEY@ in TEMPLATE, write OUT."""
import sys

src, dst, *pairs = sys.argv[1:]
text = open(src).read()
for pair in pairs:
    key, _, value = pair.partition("=")
    text = text.replace("@" + key + "@", value)
open(dst, "w").write(text)
