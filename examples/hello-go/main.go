// A WASI command in Go: prints its declared env and arguments, reads a file from the image, and
// exits with a code (GOOS=wasip1 GOARCH=wasm, built by the `go` recipe).
package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
)

func main() {
	env := os.Environ()
	sort.Strings(env)
	fmt.Println("env:", strings.Join(env, " "))
	fmt.Println("args:", strings.Join(os.Args[1:], " "))
	data, err := os.ReadFile("/etc/greeting.txt")
	if err != nil {
		fmt.Fprintln(os.Stderr, "cannot read /etc/greeting.txt:", err)
		os.Exit(3)
	}
	fmt.Print(string(data))
	if len(os.Args) > 1 && os.Args[1] == "fail" {
		os.Exit(7)
	}
}
