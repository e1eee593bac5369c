// Package layers holds the test that keeps the floors of the layout: no
// package imports one on a higher floor, and no program code imports the
// test support (see docs/architecture.md).
package layers
