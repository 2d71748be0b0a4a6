// Package patterns compiles regular expressions at init, a common heavy init.
package patterns

import "regexp"

var all = []*regexp.Regexp{
	regexp.MustCompile(`^[a-z]+\[[0-9]+\]$`),
	regexp.MustCompile(`(?i)(foo|bar|baz)+qux`),
	regexp.MustCompile(`\d{3}-\d{4}`),
}

func Count() int { return len(all) }
