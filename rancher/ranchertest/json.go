package ranchertest

import (
	"strconv"
	"sync"
	"unicode/utf8"
)

// enc appends Cattle-style JSON to a byte slice. Strings are escaped like Jackson does ("<", ">" and "&" are not
// escaped); with slash set, "/" is written as "\/".
type enc struct {
	b     []byte
	slash bool
}

var encPool = sync.Pool{New: func() any { return &enc{b: make([]byte, 0, 4096)} }}

func getEnc(slash bool) *enc {
	e := encPool.Get().(*enc)
	e.b = e.b[:0]
	e.slash = slash
	return e
}

func putEnc(e *enc) {
	if cap(e.b) > 4<<20 {
		return
	}
	encPool.Put(e)
}

func (e *enc) raw(s string) { e.b = append(e.b, s...) }

func (e *enc) null() { e.b = append(e.b, "null"...) }

func (e *enc) int(n int64) { e.b = strconv.AppendInt(e.b, n, 10) }

func (e *enc) bool(v bool) { e.b = strconv.AppendBool(e.b, v) }

// key writes "k": for a key that needs no escaping.
func (e *enc) key(k string) {
	e.b = append(e.b, '"')
	e.b = append(e.b, k...)
	e.b = append(e.b, '"', ':')
}

func (e *enc) str(s string) {
	e.b = append(e.b, '"')
	e.body(s)
	e.b = append(e.b, '"')
}

// strs writes one JSON string made of the parts.
func (e *enc) strs(parts ...string) {
	e.b = append(e.b, '"')
	for _, p := range parts {
		e.body(p)
	}
	e.b = append(e.b, '"')
}

// nstr writes s, or null when s is empty.
func (e *enc) nstr(s string) {
	if s == "" {
		e.null()
		return
	}
	e.str(s)
}

const hexDigits = "0123456789abcdef"

func (e *enc) body(s string) {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && (c != '/' || !e.slash) {
				i++
				continue
			}
			e.b = append(e.b, s[start:i]...)
			switch c {
			case '"', '\\', '/':
				e.b = append(e.b, '\\', c)
			case '\n':
				e.b = append(e.b, '\\', 'n')
			case '\r':
				e.b = append(e.b, '\\', 'r')
			case '\t':
				e.b = append(e.b, '\\', 't')
			default:
				e.b = append(e.b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			e.b = append(e.b, s[start:i]...)
			e.b = append(e.b, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	e.b = append(e.b, s[start:]...)
}

// actionsFor lists the actions Cattle offers on a registry or credential in a state.
func actionsFor(state string) []string {
	switch state {
	case "active":
		return actsActive
	case "inactive":
		return actsInactive
	case "requested", "registering":
		return actsRemove
	case "removed":
		return actsPurge
	}
	return nil
}

var (
	actsActive   = []string{"deactivate"}
	actsInactive = []string{"activate", "remove"}
	actsRemove   = []string{"remove"}
	actsPurge    = []string{"purge"}
)

// writeResource writes a registry, registry credential or project. base is the link base of the request's scope
// ("<origin>/v2-beta" or "<origin>/v2-beta/projects/1a5"); verBase is "<origin>/v2-beta" (projects always link
// unscoped). state overrides the stored state (create answers "registering"); secret writes the secretValue.
func writeResource(e *enc, r *resource, base, verBase, state string, secret bool) {
	switch r.kind {
	case kProject:
		writeProject(e, r, verBase)
		return
	case kRegistry:
		writeRegistry(e, r, base, state)
		return
	case kService:
		writeService(e, r, base, state)
		return
	}
	e.raw(`{"id":`)
	e.str(r.id)
	e.raw(`,"type":"registryCredential","links":{"self":`)
	e.strs(base, "/registrycredentials/", r.id)
	if r.registryID != "" {
		e.raw(`,"registry":`)
		e.strs(base, "/registries/", r.registryID)
	}
	e.raw(`},"actions":{`)
	for i, a := range actionsFor(state) {
		if i > 0 {
			e.raw(",")
		}
		e.key(a)
		e.strs(base, "/registrycredentials/", r.id, "/?action=", a)
	}
	e.raw(`},"baseType":"credential","name":`)
	e.nstr(r.name)
	e.raw(`,"state":`)
	e.str(state)
	e.raw(`,"accountId":`)
	e.str(r.env.id)
	e.raw(`,"created":`)
	e.str(r.created)
	e.raw(`,"createdTS":`)
	e.int(r.createdTS)
	e.raw(`,"description":`)
	e.nstr(r.description)
	e.raw(`,"kind":"registryCredential","publicValue":`)
	e.nstr(r.publicValue)
	e.raw(`,"registryId":`)
	e.nstr(r.registryID)
	e.raw(`,"removeTime":null,"removed":`)
	e.nstr(r.removed)
	e.raw(`,"secretValue":`)
	if secret {
		e.nstr(r.secretValue)
	} else {
		e.null()
	}
	writeTail(e, r, state)
	e.raw("}")
}

func writeTail(e *enc, r *resource, state string) {
	if transitional(state) {
		e.raw(`,"transitioning":"yes","transitioningMessage":"In Progress","transitioningProgress":null,"uuid":`)
	} else {
		e.raw(`,"transitioning":"no","transitioningMessage":null,"transitioningProgress":null,"uuid":`)
	}
	e.str(r.uuid)
}

func writeRegistry(e *enc, r *resource, base, state string) {
	e.raw(`{"id":`)
	e.str(r.id)
	e.raw(`,"type":"registry","links":{"self":`)
	e.strs(base, "/registries/", r.id)
	e.raw(`,"credentials":`)
	e.strs(base, "/registrycredentials?registryId=", r.id)
	e.raw(`},"actions":{`)
	for i, a := range actionsFor(state) {
		if i > 0 {
			e.raw(",")
		}
		e.key(a)
		e.strs(base, "/registries/", r.id, "/?action=", a)
	}
	e.raw(`},"baseType":"storagePool","name":`)
	e.nstr(r.name)
	e.raw(`,"state":`)
	e.str(state)
	e.raw(`,"accountId":`)
	e.str(r.env.id)
	e.raw(`,"blockDevicePath":null,"created":`)
	e.str(r.created)
	e.raw(`,"createdTS":`)
	e.int(r.createdTS)
	e.raw(`,"description":`)
	e.nstr(r.description)
	e.raw(`,"driverName":null,"externalId":null,"kind":"registry","removeTime":null,"removed":`)
	e.nstr(r.removed)
	e.raw(`,"serverAddress":`)
	e.str(r.serverAddress)
	writeTail(e, r, state)
	e.raw(`,"volumeAccessMode":null,"volumeCapabilities":null}`)
}

func writeProject(e *enc, r *resource, verBase string) {
	e.raw(`{"id":`)
	e.str(r.id)
	e.raw(`,"type":"project","links":{"self":`)
	e.strs(verBase, "/projects/", r.id)
	e.raw(`,"registries":`)
	e.strs(verBase, "/projects/", r.id, "/registries")
	e.raw(`,"registryCredentials":`)
	e.strs(verBase, "/projects/", r.id, "/registrycredentials")
	e.raw(`,"schemas":`)
	e.strs(verBase, "/projects/", r.id, "/schemas")
	e.raw(`},"actions":{},"baseType":"account","name":`)
	e.nstr(r.name)
	e.raw(`,"state":`)
	e.str(r.state)
	e.raw(`,"allowSystemRole":false,"created":`)
	e.str(r.created)
	e.raw(`,"createdTS":`)
	e.int(r.createdTS)
	e.raw(`,"defaultNetworkId":null,"description":`)
	e.nstr(r.description)
	e.raw(`,"healthState":"healthy","hostRemoveDelaySeconds":null,"kind":"project","members":null,` +
		`"orchestration":"cattle","projectTemplateId":null,"removeTime":null,"removed":`)
	e.nstr(r.removed)
	e.raw(`,"servicesPortRange":null`)
	writeTail(e, r, r.state)
	e.raw(`,"version":"3","virtualMachine":false}`)
}

// writeAPIVersion writes the apiVersion resource of a version root.
func writeAPIVersion(e *enc, version, verBase string) {
	e.raw(`{"id":`)
	e.str(version)
	e.raw(`,"type":"apiVersion","links":{"self":`)
	e.str(verBase)
	e.raw(`,"schemas":`)
	e.strs(verBase, "/schemas")
	e.raw(`,"projects":`)
	e.strs(verBase, "/projects")
	e.raw(`,"registries":`)
	e.strs(verBase, "/registries")
	e.raw(`,"registrycredentials":`)
	e.strs(verBase, "/registrycredentials")
	e.raw(`,"services":`)
	e.strs(verBase, "/services")
	e.raw(`},"actions":{}}`)
}

// writeError writes Cattle's error body. message "" writes null; fieldName "" leaves the field out.
func writeError(e *enc, id string, status int, code, message, fieldName string) {
	e.raw(`{"id":`)
	e.str(id)
	e.raw(`,"type":"error","links":{},"actions":{},"status":`)
	e.int(int64(status))
	e.raw(`,"code":`)
	e.str(code)
	e.raw(`,"message":`)
	e.nstr(message)
	e.raw(`,"detail":null`)
	if fieldName != "" {
		e.raw(`,"fieldName":`)
		e.str(fieldName)
	}
	e.raw(`,"baseType":"error"}`)
}
