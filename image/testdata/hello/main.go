// Command hello is the smallest main package of this module, for tests
// of how BuildInit compiles one (the commit it stamps).
package main

func main() {}
