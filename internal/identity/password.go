package identity

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/tsunagi-net/tsunagi/internal/fault"
)

// Argon2Params are the argon2id cost parameters. Stored hashes carry their own
// parameters, so raising these affects new hashes only.
type Argon2Params struct {
	MemoryKiB uint32
	Time      uint32
	Threads   uint8
}

// DefaultArgon2 is m=64 MiB, t=1, p=2: above the OWASP Password Storage
// Cheat Sheet's argon2id minimums (m=46 MiB, t=1, p=1 or m=19 MiB, t=2, p=1),
// and memory-hard enough that a GPU attacker pays 64 MiB per guess. On the
// 2-core reference machine one hash takes ~30 ms, a login over HTTPS ~34 ms
// (BenchmarkCheckPassword, BenchmarkLogin). RFC 9106's second recommendation
// (m=64 MiB, t=3, p=4) costs three times as much; operators who can afford
// it set --argon2-time 3.
var DefaultArgon2 = Argon2Params{MemoryKiB: 64 * 1024, Time: 1, Threads: 2}

const keyLen = 32

// hashSlots bounds how many argon2id computations run at once: each holds
// MemoryKiB of memory and keeps its lanes busy, so a burst of logins queues
// here instead of exhausting memory (16 concurrent default hashes would be
// 1 GiB) or thrashing the CPU caches; throughput stays the machine's.
var hashSlots = make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2))

func idKey(pw, salt []byte, p Argon2Params) []byte {
	hashSlots <- struct{}{}
	defer func() { <-hashSlots }()
	return argon2.IDKey(pw, salt, p.Time, p.MemoryKiB, p.Threads, keyLen)
}

// HashPassword returns a PHC-format argon2id hash of pw with a fresh salt.
func HashPassword(pw string, p Argon2Params) string {
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	key := idKey([]byte(pw), salt, p)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// CheckPassword reports whether pw matches the PHC hash, in constant time.
func CheckPassword(pw, hash string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var p Argon2Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Time, &p.Threads); err != nil {
		return false
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err := errors.Join(err1, err2); err != nil || len(want) != keyLen {
		return false
	}
	got := idKey([]byte(pw), salt, p)
	return subtle.ConstantTimeCompare(got, want) == 1
}

// MinPasswordLength is the shortest password accepted (ISO/IEC 27017 9.2.4).
const MinPasswordLength = 12

// MaxPasswordBytes caps a password before it is hashed, so that nobody can
// make the server hash megabytes (a login with a longer one is refused
// without hashing).
const MaxPasswordBytes = 1024

// errPasswordTooLong is the answer to an oversized password anywhere.
var errPasswordTooLong = fault.Field("password", "password must be at most %d bytes", MaxPasswordBytes)

// CheckPolicy reports why pw is not acceptable, as a fault on field "password":
// at least 12 characters, at most 1,024 bytes, valid UTF-8, not containing the
// login ID, and not one of the common passwords shipped with the code.
func CheckPolicy(pw, loginID string) error {
	n := utf8.RuneCountInString(pw)
	switch {
	case len(pw) > MaxPasswordBytes:
		return errPasswordTooLong
	case !utf8.ValidString(pw) || strings.ContainsRune(pw, utf8.RuneError) || strings.ContainsRune(pw, 0):
		return fault.Field("password", "password must be valid text")
	case n < MinPasswordLength:
		return fault.Field("password", "password must be at least %d characters", MinPasswordLength)
	case loginID != "" && (strings.EqualFold(pw, loginID) || strings.Contains(strings.ToLower(pw), strings.ToLower(loginID))):
		return fault.Field("password", "password must not contain the login ID")
	case isCommon(pw):
		return fault.Field("password", "this password is too common: it appears in lists of leaked passwords")
	}
	return nil
}
