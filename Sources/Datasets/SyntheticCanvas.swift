// SyntheticCanvas: rasterising a synthetic scene (SyntheticScene.swift) into 8-bit RGB frames — the static
// background (table albedo, texture, rim, light map) once per video, then objects, shadows and the gripper
// per frame with analytic signed-distance coverage (anti-aliased edges), in Float.
//
// Not here: the simulation (SyntheticScene.swift), the generator's interface (SyntheticVideos.swift).

// MARK: - Rasterisation

/// A Float RGB working image [height, width, 3] plus the static background albedo and the light map.
struct Canvas {
    let width: Int, height: Int
    let unitsPerPixel: Float
    let pixelsPerUnit: Float
    let image: UnsafeMutablePointer<Float>        // [H, W, 3] albedo being composited
    let background: UnsafeMutablePointer<Float>   // [H, W, 3] static table albedo
    let light: UnsafeMutablePointer<Float>        // [H, W] luminance multiplier
    var tint: (Float, Float, Float) = (1, 1, 1)

    init(width: Int, height: Int, unitsPerPixel: Float) {
        self.width = width
        self.height = height
        self.unitsPerPixel = unitsPerPixel
        pixelsPerUnit = 1 / unitsPerPixel
        image = .allocate(capacity: width * height * 3)
        background = .allocate(capacity: width * height * 3)
        light = .allocate(capacity: width * height)
    }

    func deallocate() {
        image.deallocate()
        background.deallocate()
        light.deallocate()
    }

    /// Fraction of a pixel covered by a shape at signed distance `distance` (units) from its centre.
    @inline(__always)
    func coverage(_ distance: Float, softness: Float = 0) -> Float {
        min(max(0.5 - distance / (unitsPerPixel + softness), 0), 1)
    }

    /// Calls `body(pixel, x, y)` for every pixel whose centre (in units) may fall in the given box.
    @inline(__always)
    func forEachPixel(_ minX: Double, _ maxX: Double, _ minY: Double, _ maxY: Double,
                      _ body: (Int, Float, Float) -> Void) {
        let scale = Double(pixelsPerUnit)
        let x0 = max(Int((minX * scale - 0.5).rounded(.down)), 0)
        let x1 = min(Int((maxX * scale - 0.5).rounded(.up)), width - 1)
        let y0 = max(Int((minY * scale - 0.5).rounded(.down)), 0)
        let y1 = min(Int((maxY * scale - 0.5).rounded(.up)), height - 1)
        if x0 > x1 || y0 > y1 { return }
        for py in y0...y1 {
            let y = (Float(py) + 0.5) * unitsPerPixel
            for px in x0...x1 {
                body(py * width + px, (Float(px) + 0.5) * unitsPerPixel, y)
            }
        }
    }

    @inline(__always)
    func blend(_ pixel: Int, _ red: Float, _ green: Float, _ blue: Float, _ alpha: Float) {
        let p = image + 3 * pixel
        p[0] += (red - p[0]) * alpha
        p[1] += (green - p[1]) * alpha
        p[2] += (blue - p[2]) * alpha
    }

    @inline(__always)
    func darken(_ pixel: Int, _ amount: Float) {
        let p = image + 3 * pixel
        let factor = 1 - amount
        p[0] *= factor; p[1] *= factor; p[2] *= factor
    }

    /// The static table (albedo) and the light map; computed once per video.
    mutating func paintBackground(_ scene: Scene) {
        tint = (scene.tintRed * scene.brightness, scene.tintGreen * scene.brightness, scene.tintBlue * scene.brightness)
        let sceneWidth = Float(scene.sceneWidth), sceneHeight = Float(scene.sceneHeight)
        let cells = scene.noiseCells
        let rim = Float(scene.rim)
        let halfWidth = sceneWidth / 2, halfHeight = sceneHeight / 2
        let lightX = Float(scene.lightX), lightY = Float(scene.lightY)
        let radius = 0.7 * max(sceneWidth, sceneHeight)
        for py in 0..<height {
            let y = (Float(py) + 0.5) * unitsPerPixel
            for px in 0..<width {
                let x = (Float(px) + 0.5) * unitsPerPixel
                let pixel = py * width + px
                // Low-frequency field: smooth interpolation of the control grid.
                let gx = min(x / sceneWidth * Float(cells), Float(cells) - 0.0001)
                let gy = min(y / sceneHeight * Float(cells), Float(cells) - 0.0001)
                let cx = Int(gx), cy = Int(gy)
                let fx = PortableMath.smoothstep(gx - Float(cx)), fy = PortableMath.smoothstep(gy - Float(cy))
                @inline(__always) func field(_ grid: [Float]) -> Float {
                    let i = cy * (cells + 1) + cx
                    let top = grid[i] + (grid[i + 1] - grid[i]) * fx
                    let bottom = grid[i + cells + 1] + (grid[i + cells + 2] - grid[i + cells + 1]) * fx
                    return top + (bottom - top) * fy
                }
                let luminance = field(scene.noiseLuminance)
                // Wood-like grain, bent by the low-frequency field, plus per-pixel texture.
                let phase = scene.grainFrequency * (scene.grainDirectionX * x + scene.grainDirectionY * y)
                    + 12 * luminance
                let grain = scene.grainAmplitude * Float(PortableMath.sin(Double(phase)))
                let hash = SplitMix64.mix(scene.textureSeed ^ (UInt64(pixel) &* 0x9E37_79B9_7F4A_7C15))
                let fine = 0.022 * (Float(hash >> 40) * 0x1.0p-24 * 2 - 1)
                let shade = 1 + luminance + grain + fine
                var red = scene.tableRed * shade + field(scene.noiseRed)
                var green = scene.tableGreen * shade
                var blue = scene.tableBlue * shade + field(scene.noiseBlue)
                // Tray rim: darker outside the inner rectangle, a bright bevel line along its edge.
                let inner = max(abs(x - halfWidth) - (halfWidth - rim), abs(y - halfHeight) - (halfHeight - rim))
                let outside = coverage(-inner)
                let bevel = max(0, 1 - abs(inner + 0.6) / 0.9) * 0.12
                let rimFactor = (1 - 0.3 * outside) * (1 + bevel)
                red *= rimFactor; green *= rimFactor; blue *= rimFactor
                let b = background + 3 * pixel
                b[0] = red; b[1] = green; b[2] = blue
                // Light: a gradient along the light direction and vignetting.
                let ox = x - halfWidth, oy = y - halfHeight
                let along = -(ox * lightX + oy * lightY) / radius
                let r2 = (ox * ox + oy * oy) / (radius * radius)
                light[pixel] = (1 + scene.lightGradient * along) * (1 - scene.vignette * r2)
            }
        }
    }

    /// Composites one frame of `scene` and writes it, lit and quantised, as UInt8 [H, W, 3].
    func render(_ scene: Scene, into output: UnsafeMutablePointer<UInt8>) {
        image.update(from: background, count: width * height * 3)
        let lightX = scene.lightX, lightY = scene.lightY

        // Object shadows, then the objects.
        for object in scene.objects {
            let sx = 1.3 * lightX, sy = 1.3 * lightY
            var shadow = object
            shadow.x += sx; shadow.y += sy
            drawShadow(shadow, strength: 0.3, softness: 1.2)
        }
        for object in scene.objects { drawObject(object, lightX: lightX, lightY: lightY) }

        // The arm: shadow (further away the higher the gripper), link, body, fingers.
        let g = scene.gripper
        let scale = 1 + 0.35 * g.z
        let shadowOffset = 1.5 + 6 * g.z
        drawArm(g, scale: scale, offsetX: shadowOffset * lightX, offsetY: shadowOffset * lightY, shadow: true,
                lightX: lightX, lightY: lightY, marked: scene.marked)
        drawArm(g, scale: scale, offsetX: 0, offsetY: 0, shadow: false, lightX: lightX, lightY: lightY, marked: scene.marked)

        // Light and quantise.
        for pixel in 0..<(width * height) {
            let l = light[pixel]
            let p = image + 3 * pixel, o = output + 3 * pixel
            o[0] = Self.quantise(p[0] * l * tint.0)
            o[1] = Self.quantise(p[1] * l * tint.1)
            o[2] = Self.quantise(p[2] * l * tint.2)
        }
    }

    @inline(__always)
    static func quantise(_ value: Float) -> UInt8 {
        UInt8(min(max(value * 255 + 0.5, 0), 255))
    }

    func drawShadow(_ object: SceneObject, strength: Float, softness: Float) {
        let r = object.boundingRadius + 2
        forEachPixel(object.x - r, object.x + r, object.y - r, object.y + r) { pixel, x, y in
            let d = Float(object.signedDistance(Double(x), Double(y)).distance)
            let a = coverage(d, softness: softness)
            if a > 0 { darken(pixel, strength * a) }
        }
    }

    func drawObject(_ object: SceneObject, lightX: Double, lightY: Double) {
        let r = object.boundingRadius + 1
        let lx = Float(lightX), ly = Float(lightY)
        let size = Float(max(object.halfWidth, object.halfHeight))
        forEachPixel(object.x - r, object.x + r, object.y - r, object.y + r) { pixel, x, y in
            let hit = object.signedDistance(Double(x), Double(y))
            let d = Float(hit.distance)
            let a = coverage(d - 0.15)
            if a <= 0 { return }
            let ox = (x - Float(object.x)) / size, oy = (y - Float(object.y)) / size
            // Brighter towards the light, a darker side band near the outline, a highlight (discs).
            var shade = 1 - 0.2 * (ox * lx + oy * ly)
            let band = max(0, 1 + d / 1.2)
            let facing = Float(hit.normalX) * lx + Float(hit.normalY) * ly
            shade *= 1 - band * (0.12 + 0.18 * facing)
            var highlight: Float = 0
            if object.isDisc {
                let hx = ox + 0.4 * lx, hy = oy + 0.4 * ly
                let h = max(0, 1 - (hx * hx + hy * hy) / 0.12)
                highlight = 0.35 * h * h
            }
            blend(pixel, object.red * shade + highlight, object.green * shade + highlight,
                  object.blue * shade + highlight, a)
        }
    }

    /// Draws the arm (or its shadow, displaced by the offset): a link from above the top edge to the
    /// gripper, the gripper body, and two fingers. `marked`: the body is flat magenta, centred on the
    /// gripper's position and drawn over the fingers, so the magenta pixels' centroid is the position.
    func drawArm(_ g: Gripper, scale: Double, offsetX: Double, offsetY: Double, shadow: Bool,
                 lightX: Double, lightY: Double, marked: Bool = false) {
        let gx = g.x + offsetX, gy = g.y + offsetY
        let bodyHalfWidth = 4.2 * scale, bodyHalfHeight = 2.6 * scale
        // Link: a capsule from the base (above the image) to the top of the gripper body.
        let ax = g.baseX + offsetX * 0.3, ay = -10.0
        let bx = gx, by = gy - bodyHalfHeight
        let linkRadius = 2.4 * scale
        let lx = Float(lightX)
        let abx = bx - ax, aby = by - ay
        let abLength2 = max(abx * abx + aby * aby, 1e-9)
        let abLength = abLength2.squareRoot()
        forEachPixel(min(ax, bx) - linkRadius - 1, max(ax, bx) + linkRadius + 1,
                     min(ay, by) - linkRadius - 1, max(ay, by) + linkRadius + 1) { pixel, x, y in
            let px = Double(x) - ax, py = Double(y) - ay
            let h = min(max((px * abx + py * aby) / abLength2, 0), 1)
            let dx = px - abx * h, dy = py - aby * h
            let d = Float((dx * dx + dy * dy).squareRoot() - linkRadius)
            if shadow {
                let a = coverage(d, softness: 1.5)
                if a > 0 { darken(pixel, 0.28 * a) }
                return
            }
            let a = coverage(d)
            if a <= 0 { return }
            // Cylindrical shading across the link.
            let across = Float((px * aby - py * abx) / abLength / linkRadius)
            let shade = 0.85 + 0.25 * across * (lx >= 0 ? -1 : 1) - 0.15 * across * across
            blend(pixel, 0.34 * shade, 0.35 * shade, 0.38 * shade, a)
        }
        // Body: a dark rounded box (marked: flat magenta, after the fingers).
        let bodyY = marked ? gy : gy - 0.3 * scale
        func drawBody() {
            boxPass(gx, bodyY, bodyHalfWidth, bodyHalfHeight, corner: 0.8 * scale) { pixel, d, _, v in
                if shadow {
                    let a = coverage(d, softness: 1.5)
                    if a > 0 { darken(pixel, 0.3 * a) }
                    return
                }
                let a = coverage(d)
                if a > 0 {
                    if marked {
                        blend(pixel, markerColour.0, markerColour.1, markerColour.2, a)
                    } else {
                        let shade = 1 - 0.25 * v
                        blend(pixel, 0.17 * shade, 0.17 * shade, 0.19 * shade, a)
                    }
                }
            }
        }
        if !marked { drawBody() }
        // Fingers: two light bars below the body, opening and closing.
        let spread = (1.6 + 1.6 * g.opening) * scale
        for side in [-1.0, 1.0] {
            let fx = gx + side * spread
            let fy = bodyY + bodyHalfHeight + 1.6 * scale
            boxPass(fx, fy, 0.9 * scale, 2.2 * scale, corner: 0.4 * scale) { pixel, d, u, _ in
                if shadow {
                    let a = coverage(d, softness: 1.5)
                    if a > 0 { darken(pixel, 0.25 * a) }
                    return
                }
                let a = coverage(d)
                if a > 0 {
                    let shade = 1 - 0.2 * u * Float(side)
                    blend(pixel, 0.58 * shade, 0.59 * shade, 0.63 * shade, a)
                }
            }
        }
        if marked { drawBody() }
    }

    /// Axis-aligned rounded box: calls `body(pixel, signedDistance, u, v)` with (u, v) ∈ [-1, 1] the
    /// normalised box-local position.
    @inline(__always)
    func boxPass(_ cx: Double, _ cy: Double, _ halfWidth: Double, _ halfHeight: Double, corner: Double,
                 _ body: (Int, Float, Float, Float) -> Void) {
        let hw = Float(halfWidth), hh = Float(halfHeight), rc = Float(corner)
        let fcx = Float(cx), fcy = Float(cy)
        forEachPixel(cx - halfWidth - 1, cx + halfWidth + 1, cy - halfHeight - 1, cy + halfHeight + 1) { pixel, x, y in
            let qx = abs(x - fcx) - (hw - rc), qy = abs(y - fcy) - (hh - rc)
            let ox = max(qx, 0), oy = max(qy, 0)
            let d = (ox * ox + oy * oy).squareRoot() + min(max(qx, qy), 0) - rc
            body(pixel, d, (x - fcx) / hw, (y - fcy) / hh)
        }
    }
}
