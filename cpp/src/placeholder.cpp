// placeholder so the engine library has a source until the engine lands
