// Package history holds the test that keeps docs/changing.md's cost table
// true to the repository's own history: each row names the commits of one
// change in one engine, and its figures are recomputed from them.
package history
