package ranchertest

import (
	"strings"
)

// fieldDef is one resourceFields entry of a schema.
type fieldDef struct {
	name, typ                          string
	create, update, required, nullable bool
	options                            []string
}

// schemaDef is one schema the stand-in serves.
type schemaDef struct {
	id, plural, parent string
	collPath           string // lower-case collection path segment; "" for none
	unscopedColl       bool   // collection link always at the version root (projects)
	writable           bool   // GET/PUT/DELETE and GET/POST in a writable scope
	resMethods         bool   // has resourceMethods ["GET"] at least
	collMethods        bool   // has collectionMethods ["GET"] at least
	fields             []fieldDef
	filters            []string // filterable fields, sorted
	actions            []string // resource actions
}

var (
	stateOptions = []string{"requested", "registering", "inactive", "activating", "active", "deactivating",
		"updating-active", "updating-inactive", "removing", "removed", "purging", "purged"}
	transitioningOptions = []string{"yes", "no", "error"}
	filterModifiers      = []string{"eq", "ne", "lt", "lte", "gt", "gte", "prefix", "like", "notlike", "null", "notnull"}
)

// f parses a compact field spec "name:type:flags" (flags: c create, u update, r required, n nullable).
func f(spec string) fieldDef {
	p := strings.SplitN(spec, ":", 3)
	d := fieldDef{name: p[0], typ: p[1]}
	if len(p) == 3 {
		d.create = strings.Contains(p[2], "c")
		d.update = strings.Contains(p[2], "u")
		d.required = strings.Contains(p[2], "r")
		d.nullable = strings.Contains(p[2], "n")
	}
	switch d.name {
	case "state":
		d.options = stateOptions
	case "transitioning":
		d.options = transitioningOptions
	}
	return d
}

func fields(specs ...string) []fieldDef {
	out := make([]fieldDef, len(specs))
	for i, s := range specs {
		out[i] = f(s)
	}
	return out
}

var commonFields = []string{"created:date::n", "id:string", "kind:string", "removeTime:date::n", "removed:date::n",
	"state:enum", "transitioning:enum", "transitioningMessage:string::n", "transitioningProgress:int::n", "uuid:string"}

func withCommon(specs ...string) []fieldDef {
	all := append(append([]string{}, specs...), commonFields...)
	d := fields(all...)
	// sort by name, as Cattle writes them
	for i := 1; i < len(d); i++ {
		for j := i; j > 0 && d[j].name < d[j-1].name; j-- {
			d[j], d[j-1] = d[j-1], d[j]
		}
	}
	return d
}

var (
	registryFilters   = []string{"accountId", "created", "description", "id", "kind", "name", "removeTime", "removed", "state", "uuid"}
	credentialFilters = []string{"accountId", "created", "description", "id", "kind", "name", "publicValue", "registryId",
		"removeTime", "removed", "state", "uuid"}
	projectFilters = []string{"created", "description", "id", "kind", "name", "removeTime", "removed", "state", "uuid"}
	lifecycle      = []string{"activate", "deactivate", "purge", "remove"}
)

// schemaDefs lists the served schemas, sorted by id.
var schemaDefs = []*schemaDef{
	{id: "apiVersion", plural: "apiVersions", resMethods: true, collMethods: true},
	{id: "collection", plural: "collections", fields: fields("data:array[json]", "pagination:json::n",
		"resourceType:string", "sort:json::n", "filters:map[json]")},
	{id: "credential", plural: "credentials", collPath: "credentials", resMethods: true, collMethods: true,
		fields: withCommon("accountId:reference[account]", "description:string:cun", "name:string:cun",
			"publicValue:string:cun", "secretValue:password:cun"),
		filters: []string{"accountId", "created", "description", "id", "kind", "name", "publicValue", "removeTime",
			"removed", "state", "uuid"}, actions: lifecycle},
	{id: "error", plural: "errors", resMethods: true, fields: fields("status:int", "code:string", "message:string::n",
		"detail:string::n", "fieldName:string::n")},
	{id: "project", plural: "projects", collPath: "projects", unscopedColl: true, resMethods: true, collMethods: true,
		fields: withCommon("allowSystemRole:boolean:cu", "defaultNetworkId:reference[network]::n",
			"description:string:cun", "healthState:enum::n", "hostRemoveDelaySeconds:int:cun", "members:array[projectMember]:cn",
			"name:string:cun", "orchestration:string:cun", "projectTemplateId:reference[projectTemplate]:cn",
			"servicesPortRange:servicesPortRange:cun", "version:string::n", "virtualMachine:boolean:cu"),
		filters: projectFilters},
	{id: "registry", plural: "registries", parent: "storagePool", collPath: "registries", writable: true,
		resMethods: true, collMethods: true,
		fields: withCommon("accountId:reference[account]", "blockDevicePath:string::n", "description:string:cun",
			"driverName:string::n", "externalId:string::n", "name:string:cun", "serverAddress:string:cr",
			"volumeAccessMode:string::n", "volumeCapabilities:array[string]::n"),
		filters: registryFilters, actions: lifecycle},
	{id: "registryCredential", plural: "registryCredentials", parent: "credential", collPath: "registrycredentials",
		writable: true, resMethods: true, collMethods: true,
		fields: withCommon("accountId:reference[account]", "description:string:cun", "name:string:cun",
			"publicValue:string:cun", "registryId:reference[registry]:cr", "secretValue:password:cun"),
		filters: credentialFilters, actions: lifecycle},
	{id: "schema", plural: "schemas", collPath: "schemas", resMethods: true, collMethods: true,
		fields: fields("pluralName:string", "resourceMethods:array[enum]", "resourceFields:map[field]",
			"resourceActions:map[action]", "collectionMethods:array[enum]", "collectionFields:map[field]",
			"collectionActions:map[action]", "collectionFilters:map[filter]", "includeableLinks:array[string]")},
	serviceSchema, // services.go
	{id: "storagePool", plural: "storagePools", collPath: "storagepools", resMethods: true, collMethods: true,
		fields: withCommon("accountId:reference[account]", "blockDevicePath:string::n", "description:string:cun",
			"driverName:string::n", "externalId:string::n", "name:string:cun", "volumeAccessMode:string::n",
			"volumeCapabilities:array[string]::n"),
		filters: registryFilters, actions: lifecycle},
}

var schemaByLower = func() map[string]*schemaDef {
	m := map[string]*schemaDef{}
	for _, d := range schemaDefs {
		m[strings.ToLower(d.id)] = d
	}
	return m
}()

// writeSchema writes one schema. base is the scope's link base, verBase the version root.
func writeSchema(e *enc, d *schemaDef, base, verBase string, writable bool) {
	e.raw(`{"id":`)
	e.str(d.id)
	e.raw(`,"type":"schema","links":{"self":`)
	e.strs(base, "/schemas/", strings.ToLower(d.id))
	if d.collPath != "" {
		e.raw(`,"collection":`)
		if d.unscopedColl {
			e.strs(verBase, "/", d.collPath)
		} else {
			e.strs(base, "/", d.collPath)
		}
	}
	e.raw(`},"actions":{},"pluralName":`)
	e.str(d.plural)
	if d.parent != "" {
		e.raw(`,"parent":`)
		e.str(d.parent)
	}
	rw := writable && d.writable
	e.raw(`,"resourceMethods":`)
	switch {
	case rw:
		e.raw(`["GET","PUT","DELETE"]`)
	case d.resMethods:
		e.raw(`["GET"]`)
	default:
		e.raw(`[]`)
	}
	e.raw(`,"resourceFields":{`)
	for i, fd := range d.fields {
		if i > 0 {
			e.raw(",")
		}
		e.key(fd.name)
		e.raw(`{"type":`)
		e.str(fd.typ)
		e.raw(`,"nullable":`)
		e.bool(fd.nullable)
		e.raw(`,"create":`)
		e.bool(fd.create)
		e.raw(`,"required":`)
		e.bool(fd.required)
		e.raw(`,"update":`)
		e.bool(fd.update)
		if fd.options != nil {
			e.raw(`,"options":[`)
			for j, o := range fd.options {
				if j > 0 {
					e.raw(",")
				}
				e.str(o)
			}
			e.raw("]")
		}
		e.raw("}")
	}
	e.raw(`},"resourceActions":{`)
	for i, a := range d.actions {
		if i > 0 {
			e.raw(",")
		}
		e.key(a)
		e.raw(`{"input":null,"output":`)
		e.str(d.id)
		e.raw("}")
	}
	e.raw(`},"collectionMethods":`)
	switch {
	case rw:
		e.raw(`["GET","POST"]`)
	case d.collMethods:
		e.raw(`["GET"]`)
	default:
		e.raw(`[]`)
	}
	e.raw(`,"collectionFields":{},"collectionActions":{},"collectionFilters":{`)
	for i, name := range d.filters {
		if i > 0 {
			e.raw(",")
		}
		e.key(name)
		e.raw(`{"modifiers":[`)
		for j, m := range filterModifiers {
			if j > 0 {
				e.raw(",")
			}
			e.str(m)
		}
		e.raw("]}")
	}
	e.raw(`},"includeableLinks":[]}`)
}

// writeSchemas writes the schemas collection of a scope.
func writeSchemas(e *enc, base, verBase string, writable bool) {
	e.raw(`{"type":"collection","resourceType":"schema","links":{"self":`)
	e.strs(base, "/schemas")
	e.raw(`},"createTypes":{},"actions":{},"data":[`)
	for i, d := range schemaDefs {
		if i > 0 {
			e.raw(",")
		}
		writeSchema(e, d, base, verBase, writable)
	}
	e.raw(`],"sortLinks":{},"pagination":null,"sort":null,"filters":{},"createDefaults":{}}`)
}
