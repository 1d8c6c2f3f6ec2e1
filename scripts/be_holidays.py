#!/usr/bin/env python3
"""Prints Belgium's legal holidays from PyPI `holidays`, one per line: `YYYY-MM-DD name`.

An oracle for the calendar tests: an implementation independent of jalon's.
Usage: be_holidays.py FIRST_YEAR LAST_YEAR
"""
import sys

import holidays

first, last = int(sys.argv[1]), int(sys.argv[2])
be = holidays.country_holidays("BE", years=range(first, last + 1), language="en_US")
for day, name in sorted(be.items()):
    print(day.isoformat(), name)
