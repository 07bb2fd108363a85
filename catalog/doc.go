// Package catalog holds the Rancher 1.6 (Cattle) catalog repository of ecr-updater and
// its tests; it has no Go code of its own.
//
// The folder is laid out as a catalog Rancher can clone (Admin -> Settings -> Catalog):
//
//   - infra-templates/ecr-updater: the "ECR Updater" infrastructure service, a drop-in
//     replacement for the library's "ECR Credential Updater" (infra-templates/ecr v2.0.1
//     and ecr-windows v3.0.0) with the same question variables;
//   - project-templates/cattle-with-ecr-updater: an environment template with the
//     standard Cattle infrastructure stacks plus ECR Updater.
//
// The tests render every docker-compose.yml.tpl the way Rancher 1.6 does (Go
// text/template over the answers, YAML parsing, then ${var} interpolation of the values,
// as rancher-compose-executor and libcompose do), and check the result, the questions,
// the health checks, the environment template, and the docker-compose.yml and
// rancher-compose.yml at the top of the repository. See README.md for operators.
package catalog
