#!/usr/bin/env python3
"""Writes a seeded CSV of contacts for tests, benchmarks and trying importd out.

    scripts/gen_contacts.py ROWS [--seed N] [-o FILE] [--delimiter ,] [--encoding utf-8|windows-1252]

Most rows are clean. A few carry exactly one planted problem each, so the
import's results can be checked against the counts this script reports:

    bad_email     an address that is not one (INVALID_EMAIL)
    missing_last  an empty last name (MISSING_REQUIRED)
    bad_date      a birth date that is no real day (INVALID_DATE)
    dup_email     the email of an earlier clean row, in other letter case (DUPLICATE_IN_FILE)

The counts go to stderr as one line: `rows=N bad_email=N missing_last=N
bad_date=N dup_email=N clean=N`. The same seed gives the same bytes. Only the
standard library is used. Names and notes are multilingual (accents, ß, Ø,
apostrophes) and some notes hold quotes, commas and line breaks, as real exports do.
"""
import argparse
import csv
import io
import random
import sys

HEADER = ["Title", "First Name", "Last Name", "Email", "Phone", "Mobile", "Street", "City", "Region", "Postcode",
          "Country", "Date of Birth", "Gender", "Company", "Notes"]

# (display name, ASCII form used in email addresses)
FIRST = [("Ana", "ana"), ("Björn", "bjorn"), ("Chloé", "chloe"), ("Dmitri", "dmitri"), ("Eilís", "eilis"),
         ("Fatima", "fatima"), ("Giulia", "giulia"), ("Hiro", "hiro"), ("Ines", "ines"), ("Jürgen", "jurgen"),
         ("Kwame", "kwame"), ("Léa", "lea"), ("Mateo", "mateo"), ("Nadia", "nadia"), ("Oskar", "oskar"),
         ("Priya", "priya"), ("Quentin", "quentin"), ("Rosa", "rosa"), ("Søren", "soren"), ("Tomás", "tomas"),
         ("Uma", "uma"), ("Valentina", "valentina"), ("Wei", "wei"), ("Ximena", "ximena"), ("Yusuf", "yusuf"),
         ("Zoë", "zoe"), ("Siobhán", "siobhan"), ("Mary-Kate", "marykate"), ("José Luis", "joseluis"), ("Ólafur", "olafur")]
LAST = [("Andersen", "andersen"), ("Brennan", "brennan"), ("Castro", "castro"), ("Dubois", "dubois"),
        ("Esposito", "esposito"), ("Fischer", "fischer"), ("García", "garcia"), ("Haddad", "haddad"),
        ("Ivanova", "ivanova"), ("Jensen", "jensen"), ("Kowalski", "kowalski"), ("Lefèvre", "lefevre"),
        ("Müßig", "mussig"), ("Núñez", "nunez"), ("O'Hara", "ohara"), ("Petrović", "petrovic"), ("Quinn", "quinn"),
        ("Rossi", "rossi"), ("Schmidt", "schmidt"), ("Tanaka", "tanaka"), ("Ødegaard", "odegaard"),
        ("van der Berg", "vanderberg"), ("Walsh", "walsh"), ("Yilmaz", "yilmaz"), ("Zielińska", "zielinska")]
DOMAINS = ["example.com", "example.org", "mail.example.net", "travel.example.de", "post.example.fr", "example.co.uk"]
TITLES = ["", "", "Mr", "Ms", "Mrs", "Dr", "Mx"]
PLACES = [("Madrid", "Madrid", "28013", "ES"), ("Köln", "Nordrhein-Westfalen", "50667", "DE"),
          ("Lyon", "Auvergne-Rhône-Alpes", "69002", "FR"), ("Dublin", "Leinster", "D02 X285", "IE"),
          ("Kraków", "Małopolskie", "31-042", "PL"), ("Bergen", "Vestland", "5003", "NO"),
          ("Porto", "Norte", "4050-123", "PT"), ("Boston", "MA", "02108", "US"), ("Osaka", "Osaka", "530-0001", "JP")]
STREETS = ["Calle Mayor", "Hauptstraße", "Rue de la République", "O'Connell Street", "ul. Floriańska", "Bryggen",
           "Rua das Flores", "Beacon St", "Midosuji"]
COMPANIES = ["", "", "Acme Travel", "Nordic Tours AB", "Soleil & Fils", "Blue Lagoon Ltd.", "Viajes Sol, S.L."]
NOTES = ["", "", "", "VIP", "Prefers e-mail", 'Asked for "quiet room"', "Allergic: nuts, shellfish",
         "Met at the fair,\nfollow up in spring", "Loyalty: gold", "Called twice; no answer"]
BAD_EMAILS = ["{f}.{l}.example.com", "{f}@{l}", "{f} {l}@example.com", "@example.org", "{f}..{l}@example.net",
              "{f}@example.c", "{f}@-example.com"]
BAD_DATES = ["1899-02-29", "1987-13-01", "31/12/1980", "1990-04-31", "2001-00-10", "19850612"]


def phone(rng):
    return "+%d %d %03d %04d" % (rng.choice([34, 49, 33, 353, 48, 47, 351, 1, 81]), rng.randint(10, 99),
                                 rng.randint(0, 999), rng.randint(0, 9999))


def date(rng):
    return "%04d-%02d-%02d" % (rng.randint(1940, 2006), rng.randint(1, 12), rng.randint(1, 28))


def generate(rows, seed, out, delimiter=","):
    rng = random.Random(seed)
    counts = dict(rows=rows, bad_email=0, missing_last=0, bad_date=0, dup_email=0, clean=0)
    clean_emails = []
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(HEADER)
    for i in range(rows):
        first, first_ascii = rng.choice(FIRST)
        last, last_ascii = rng.choice(LAST)
        city, region, postcode, country = rng.choice(PLACES)
        email = "%s.%s%d@%s" % (first_ascii, last_ascii, i, rng.choice(DOMAINS))
        if rng.random() < 0.1:
            email = email.capitalize()
        birth = date(rng) if rng.random() < 0.7 else ""
        draw = rng.random()
        if draw < 0.005:
            problem = "bad_email"
            email = rng.choice(BAD_EMAILS).format(f=first_ascii, l=last_ascii)
        elif draw < 0.010:
            problem = "missing_last"
            last = ""
        elif draw < 0.015:
            problem = "bad_date"
            birth = rng.choice(BAD_DATES)
        elif draw < 0.020 and clean_emails:
            problem = "dup_email"
            email = rng.choice(clean_emails).swapcase()
        else:
            problem = "clean"
            if len(clean_emails) < 10_000:
                clean_emails.append(email)
            elif rng.random() < 0.01:
                clean_emails[rng.randrange(len(clean_emails))] = email
        counts[problem] += 1
        street = "%s %d" % (rng.choice(STREETS), rng.randint(1, 250))
        mobile = phone(rng) if rng.random() < 0.6 else ""
        writer.writerow([rng.choice(TITLES), first, last, email, phone(rng) if rng.random() < 0.5 else "", mobile,
                         street, city, region, postcode, country, birth, rng.choice(["", "female", "male", "diverse"]),
                         rng.choice(COMPANIES), rng.choice(NOTES)])
    return counts


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rows", type=int)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("-o", "--output", help="the file to write (default: standard output)")
    parser.add_argument("--delimiter", default=",", help="',' (default), ';' or a tab")
    parser.add_argument("--encoding", default="utf-8", choices=["utf-8", "windows-1252"],
                        help="windows-1252 writes what Excel's plain CSV would (characters it lacks become '?')")
    args = parser.parse_args()
    delimiter = "\t" if args.delimiter in ("\\t", "tab") else args.delimiter
    if args.output:
        out = open(args.output, "w", newline="", encoding=args.encoding, errors="replace", buffering=1 << 20)
    else:
        out = io.TextIOWrapper(sys.stdout.buffer, encoding=args.encoding, errors="replace", newline="")
    with out:
        counts = generate(args.rows, args.seed, out, delimiter)
    print(" ".join("%s=%d" % item for item in counts.items()), file=sys.stderr)


if __name__ == "__main__":
    main()
