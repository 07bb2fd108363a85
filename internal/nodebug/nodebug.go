// Package nodebug switches off go-rancher's debug printing before go-rancher can switch it on.
//
// github.com/rancher/go-rancher/v2 reads RANCHER_CLIENT_DEBUG once, in its init function, and when it is "true"
// prints every request body to standard output, registry credential secretValue included. Nothing in its API
// turns that off again. The Go specification initialises packages in import-path order among those whose imports
// are ready; this package imports only os, and its path (github.com/ecr-updater/...) sorts before
// github.com/rancher/go-rancher, so its init always runs first and removes the variable. Package rancher imports
// it, so every program and test binary that can reach go-rancher through this module gets it.
package nodebug

import "os"

// Variable is the environment variable that go-rancher reads to print request bodies.
const Variable = "RANCHER_CLIENT_DEBUG"

func init() {
	_ = os.Unsetenv(Variable)
}
