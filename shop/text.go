package shop

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxCustomerLen bounds a customer name, in characters.
const MaxCustomerLen = 64

// customerPunct is the punctuation a customer name may hold besides
// letters, digits and single spaces.
const customerPunct = ".'-_@+"

// CheckCustomer checks a customer name: empty (anonymous), or at most
// MaxCustomerLen letters, digits, spaces between words and the characters
// . ' - _ @ +. Nothing in it can be markup in HTML or markdown, a line
// break, or a control character.
func CheckCustomer(s string) error {
	if s == "" {
		return nil
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("customer is not valid UTF-8")
	}
	if n := utf8.RuneCountInString(s); n > MaxCustomerLen {
		return fmt.Errorf("customer is %d characters long, at most %d are allowed", n, MaxCustomerLen)
	}
	if strings.TrimSpace(s) != s || strings.Contains(s, "  ") {
		return fmt.Errorf("customer %q has leading, trailing or repeated spaces", s)
	}
	for _, r := range s {
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r) || r == ' ' || strings.ContainsRune(customerPunct, r)) {
			return fmt.Errorf("customer %q holds %q: want letters, digits, spaces and %s", s, r, customerPunct)
		}
	}
	return nil
}

// CheckText checks a free-text field given by an operator (a label, a
// note): at most max characters of printable text on one line.
func CheckText(field, s string, max int) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s is not valid UTF-8", field)
	}
	if n := utf8.RuneCountInString(s); n > max {
		return fmt.Errorf("%s is %d characters long, at most %d are allowed", field, n, max)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("%s holds %q: want printable characters on one line", field, r)
		}
	}
	return nil
}

// OneLine is err's message on one line: every run of white space, line
// breaks included, becomes one space. Errors shown to a user in one line
// (a command's exit, a health check, the live page) go through it.
func OneLine(err error) string { return strings.Join(strings.Fields(err.Error()), " ") }
