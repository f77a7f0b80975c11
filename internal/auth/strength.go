package auth

import (
	_ "embed"
	"fmt"
	"strings"
	"unicode"
)

// MinPasswordLength is the shortest password accepted.
const MinPasswordLength = 12

// maxPasswordLength bounds the work of one hash.
const maxPasswordLength = 1024

// minDistinctCharacters refuses passwords such as twelve spaces or
// "121212121212", long enough but made of too few different characters.
const minDistinctCharacters = 5

// ErrWeakPassword is returned for a password shorter than
// MinPasswordLength; WeakPasswordError wraps it for the other reasons.
var ErrWeakPassword = fmt.Errorf("a password must have at least %d characters", MinPasswordLength)

// WeakPasswordError says why a password was refused; errors.Is matches it
// against ErrWeakPassword.
type WeakPasswordError struct{ Reason string }

func (e *WeakPasswordError) Error() string { return "this password is too easy to guess: " + e.Reason }

// Is makes every WeakPasswordError match ErrWeakPassword.
func (e *WeakPasswordError) Is(target error) bool { return target == ErrWeakPassword }

//go:embed common_passwords.txt
var commonPasswordsFile string

// commonPasswords holds the embedded list, lower-case.
var commonPasswords = func() map[string]bool {
	m := map[string]bool{}
	for line := range strings.Lines(commonPasswordsFile) {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			m[strings.ToLower(line)] = true
		}
	}
	return m
}()

// leet undoes the usual letter-for-digit swaps ("p@ssw0rd").
var leet = strings.NewReplacer("0", "o", "1", "i", "3", "e", "4", "a", "5", "s", "7", "t", "@", "a", "$", "s", "!", "i")

// CheckPasswordStrength refuses a password a person chose that is too
// short, too long, made of too few different characters, only digits, or
// one of the common passwords (also with digits and symbols added around
// it, or with l33t spelling). Generated passwords always pass.
func CheckPasswordStrength(password string) error {
	n := len([]rune(password))
	if n < MinPasswordLength {
		return ErrWeakPassword
	}
	if len(password) > maxPasswordLength {
		return fmt.Errorf("a password may have at most %d characters", maxPasswordLength)
	}
	if strings.TrimSpace(password) == "" {
		return &WeakPasswordError{Reason: "it is only spaces"}
	}
	distinct := map[rune]bool{}
	digits := true
	for _, r := range password {
		distinct[unicode.ToLower(r)] = true
		digits = digits && unicode.IsDigit(r)
	}
	if len(distinct) < minDistinctCharacters {
		return &WeakPasswordError{Reason: fmt.Sprintf("it uses fewer than %d different characters", minDistinctCharacters)}
	}
	if digits {
		return &WeakPasswordError{Reason: "it is only digits; use words"}
	}
	lower := strings.ToLower(password)
	stem := strings.TrimFunc(lower, func(r rune) bool { return !unicode.IsLetter(r) })
	for _, candidate := range []string{lower, strings.ReplaceAll(lower, " ", ""), stem, leet.Replace(stem),
		strings.TrimFunc(leet.Replace(lower), func(r rune) bool { return !unicode.IsLetter(r) })} {
		if commonPasswords[candidate] {
			return &WeakPasswordError{Reason: "it is one of the most common passwords; choose a few unrelated words"}
		}
	}
	return nil
}
