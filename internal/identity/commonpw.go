package identity

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed"
	"strings"
	"sync"
)

// commonPasswords is the 30,000-entry "passwords" frequency list of zxcvbn
// (from Mark Burnett's 10 million leaked passwords), taken from Debian's
// package python3-zxcvbn 4.4.28-3 (zxcvbn/frequency_lists.py,
// FREQUENCY_LISTS["passwords"]), one per line, gzip -9. Licence: MIT,
// Copyright 2012-2013 Dropbox, Inc., 2016 Daniel Wolf.
//
//go:embed commonpasswords.txt.gz
var commonPasswordsGz []byte

var commonSet = sync.OnceValue(func() map[string]struct{} {
	zr, err := gzip.NewReader(bytes.NewReader(commonPasswordsGz))
	if err != nil {
		panic("identity: embedded password list: " + err.Error())
	}
	set := make(map[string]struct{}, 30000)
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		if w := strings.TrimSpace(sc.Text()); w != "" {
			set[strings.ToLower(w)] = struct{}{}
		}
	}
	if err := sc.Err(); err != nil {
		panic("identity: embedded password list: " + err.Error())
	}
	return set
})

// CommonPasswordCount is how many distinct passwords the embedded list holds.
func CommonPasswordCount() int { return len(commonSet()) }

// isCommon reports whether pw is on the list, or is a listed password with
// only digits and symbols around it ("Password123!", "!!dragon2024"), or one
// listed password repeated ("monkeymonkeymonkey"). Case is ignored.
func isCommon(pw string) bool {
	set := commonSet()
	low := strings.ToLower(pw)
	if _, ok := set[low]; ok {
		return true
	}
	core := strings.TrimFunc(low, func(r rune) bool { return !(r >= 'a' && r <= 'z') && r < 0x80 })
	if len(core) >= 4 {
		if _, ok := set[core]; ok {
			return true
		}
	}
	for n := 4; n <= len(core)/2; n++ {
		if len(core)%n == 0 && strings.Repeat(core[:n], len(core)/n) == core {
			if _, ok := set[core[:n]]; ok {
				return true
			}
		}
	}
	return false
}
