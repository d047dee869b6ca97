/*
 * cairo.h: the three declarations of cairo that RDKit's MolDraw2DCairo.h
 * needs (its inline constructor and destructor call them). Debian's RDKit
 * links libRDKitMolDraw2D against libcairo.so.2, but cairo's headers
 * (libcairo2-dev) are not a dependency of librdkit-dev; this stub lets the
 * shim compile without them. The signatures are cairo's (1.x, stable ABI);
 * build.rs links libcairo.so.2 for them.
 */
#ifndef BIOTORCH_CAIRO_STUB_H
#define BIOTORCH_CAIRO_STUB_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _cairo cairo_t;

cairo_t *cairo_reference(cairo_t *cr);
unsigned int cairo_get_reference_count(cairo_t *cr);
void cairo_destroy(cairo_t *cr);

#ifdef __cplusplus
}
#endif

#endif /* BIOTORCH_CAIRO_STUB_H */
