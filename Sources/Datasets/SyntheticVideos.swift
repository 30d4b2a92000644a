// SyntheticVideos: the built-in corpus, robot-pushing-like scenes rendered procedurally, so that
// everything (prepare, train, evaluate, sample) runs with no download.
//
// A scene is a textured table in a tray (smooth low-frequency colour variation, a wood-like grain and
// fine per-pixel texture, a darker rim), 2–4 coloured objects (shaded discs and rounded boxes with soft
// shadows) and a gripper arm that enters from the top edge, follows a smooth random trajectory towards
// the objects, lowers itself and pushes whatever it touches. Lighting (colour tint, brightness, a light
// direction gradient, vignetting) varies per video. The background is static within a video, so
// consecutive frames are strongly correlated and the model has structure to learn.
//
// Determinism: a video is a pure function of (seed, index, frames, height, width). The scene lives in
// resolution-independent "reference units" (the shorter image side is 64 units), is simulated in Double
// with a private SplitMix64 and no libm transcendentals (our own polynomial sine), and is rasterised
// with analytic signed-distance coverage (anti-aliased edges) in Float. Every operation is IEEE-exact
// (+, −, ×, ÷, √, rounding), so the bytes do not depend on the platform. Simulation step t never reads
// later random draws, so the first T frames of a longer video equal the T-frame video.
//
// Not here: writing shards (see the shard writer) and any notion of actions/end-effector states.

/// Generates the built-in synthetic corpus: seeded, deterministic robot-pushing-like videos.
public struct SyntheticVideoGenerator: Sendable {
    public let frames: Int
    public let height: Int
    public let width: Int
    public let seed: UInt64

    /// - Precondition: `frames ≥ 0`, `height ≥ 1`, `width ≥ 1` (videos are meant to be ≥ 8×8).
    public init(frames: Int, height: Int, width: Int, seed: UInt64) {
        precondition(frames >= 0 && height >= 1 && width >= 1,
                     "SyntheticVideoGenerator: frames must be ≥ 0 and height, width ≥ 1 " +
                     "(got frames \(frames), height \(height), width \(width))")
        self.frames = frames
        self.height = height
        self.width = width
        self.seed = seed
    }

    /// Bytes in one frame: height × width × 3.
    public var bytesPerFrame: Int { height * width * 3 }
    /// Bytes in one video: frames × height × width × 3.
    public var bytesPerVideo: Int { frames * bytesPerFrame }

    /// Video `index` as UInt8 [frames, height, width, 3], row-major; a pure function of (seed, index, sizes).
    public func video(index: Int) -> [UInt8] {
        let count = bytesPerVideo
        return [UInt8](unsafeUninitializedCapacity: count) { buffer, initialised in
            if let base = buffer.baseAddress { video(index: index, into: base) }
            initialised = count
        }
    }

    /// Writes video `index` into `buffer`, which must hold `bytesPerVideo` bytes ([frames, height, width, 3]).
    public func video(index: Int, into buffer: UnsafeMutablePointer<UInt8>) {
        let unitsPerPixel = 64.0 / Double(min(height, width))
        var scene = Scene(seed: seed, index: index,
                          sceneWidth: Double(width) * unitsPerPixel, sceneHeight: Double(height) * unitsPerPixel)
        var canvas = Canvas(width: width, height: height, unitsPerPixel: Float(unitsPerPixel))
        defer { canvas.deallocate() }
        canvas.paintBackground(scene)
        for t in 0..<frames {
            canvas.render(scene, into: buffer + t * bytesPerFrame)
            if t + 1 < frames { scene.advance() }
        }
    }
}

// MARK: - Random numbers and deterministic math

/// SplitMix64 (Steele, Lea & Flood 2014): tiny, fast, and identical on every platform.
struct SplitMix64 {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    @inline(__always)
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    @inline(__always)
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return Self.mix(state)
    }

    /// Uniform in [0, 1) with 53 random bits.
    mutating func uniform() -> Double { Double(next() >> 11) * 0x1.0p-53 }
    mutating func uniform(_ low: Double, _ high: Double) -> Double { low + (high - low) * uniform() }
    /// Uniform integer in 0..<bound (the modulo bias is irrelevant for the tiny bounds used here).
    mutating func integer(below bound: Int) -> Int { Int(next() % UInt64(bound)) }
    /// Approximately standard normal (Irwin–Hall sum of four uniforms, rescaled to unit variance).
    mutating func normal() -> Double {
        (uniform() + uniform() + uniform() + uniform() - 2.0) * 1.7320508075688772
    }
}

/// Sine and cosine from + and × only, so results are bit-identical on every platform (libm is not).
enum PortableMath {
    static let pi = 3.141592653589793

    static func sin(_ x: Double) -> Double {
        let twoPi = 2 * pi
        var r = x - (x / twoPi).rounded() * twoPi           // [-π, π]
        if r > pi / 2 { r = pi - r } else if r < -pi / 2 { r = -pi - r }   // [-π/2, π/2]
        let r2 = r * r
        // Taylor series to r^15; the error at π/2 is below 1e-10.
        var p = -1.0 / 1_307_674_368_000
        p = p * r2 + 1.0 / 6_227_020_800
        p = p * r2 - 1.0 / 39_916_800
        p = p * r2 + 1.0 / 362_880
        p = p * r2 - 1.0 / 5040
        p = p * r2 + 1.0 / 120
        p = p * r2 - 1.0 / 6
        return r + r * r2 * p
    }

    static func cos(_ x: Double) -> Double { sin(x + pi / 2) }

    @inline(__always)
    static func smoothstep(_ x: Float) -> Float { x * x * (3 - 2 * x) }
}

// MARK: - Scene (resolution independent, reference units: the shorter side is 64)

struct SceneObject {
    var isDisc: Bool
    var x: Double, y: Double
    /// Disc: both are the radius. Box: half extents along the box's own axes.
    var halfWidth: Double, halfHeight: Double
    var angle: Double
    var red: Float, green: Float, blue: Float

    /// Radius used for object–object separation.
    var collisionRadius: Double { isDisc ? halfWidth : 0.5 * (halfWidth + halfHeight) + 0.5 }
    var boundingRadius: Double { isDisc ? halfWidth : (halfWidth * halfWidth + halfHeight * halfHeight).squareRoot() }

    /// Signed distance from (px, py) to the object's outline and the outward unit normal there.
    func signedDistance(_ px: Double, _ py: Double) -> (distance: Double, normalX: Double, normalY: Double) {
        let dx = px - x, dy = py - y
        if isDisc {
            let length = (dx * dx + dy * dy).squareRoot()
            if length < 1e-9 { return (-halfWidth, 0, 1) }
            return (length - halfWidth, dx / length, dy / length)
        }
        let c = PortableMath.cos(angle), s = PortableMath.sin(angle)
        let u = c * dx + s * dy, v = -s * dx + c * dy          // box-local coordinates
        let qu = abs(u) - halfWidth, qv = abs(v) - halfHeight
        var nu: Double, nv: Double, distance: Double
        if qu > 0 || qv > 0 {
            let ou = max(qu, 0), ov = max(qv, 0)
            distance = (ou * ou + ov * ov).squareRoot()
            nu = ou / distance * (u < 0 ? -1 : 1)
            nv = ov / distance * (v < 0 ? -1 : 1)
        } else if qu > qv {
            distance = qu; nu = u < 0 ? -1 : 1; nv = 0
        } else {
            distance = qv; nu = 0; nv = v < 0 ? -1 : 1
        }
        return (distance, c * nu - s * nv, s * nu + c * nv)
    }
}

struct Gripper {
    var x: Double, y: Double
    /// Height above the table in [0, 1]: 0 touches the table (and pushes), 1 is fully raised.
    var z: Double
    var velocityX = 0.0, velocityY = 0.0, velocityZ = 0.0
    /// Finger opening in [0, 1].
    var opening: Double
    var targetX = 0.0, targetY = 0.0
    var targetObject = -1
    var stepsToRetarget = 0
    var speed: Double
    /// Where the arm enters, above the top edge.
    var baseX: Double

    static let pushRadius = 4.0
    static let pushHeight = 0.4
}

/// Table palette (albedo) and object palette.
private let tableTones: [(Float, Float, Float)] = [
    (0.64, 0.54, 0.42), (0.56, 0.57, 0.59), (0.70, 0.64, 0.53), (0.52, 0.47, 0.42), (0.60, 0.60, 0.52),
]
private let objectColours: [(Float, Float, Float)] = [
    (0.85, 0.15, 0.12), (0.12, 0.40, 0.85), (0.95, 0.78, 0.10), (0.15, 0.62, 0.25), (0.58, 0.22, 0.70),
    (0.95, 0.45, 0.10), (0.10, 0.68, 0.70), (0.92, 0.92, 0.90), (0.20, 0.20, 0.23), (0.88, 0.42, 0.62),
]

struct Scene {
    let sceneWidth: Double, sceneHeight: Double
    /// Width of the tray rim.
    let rim: Double
    /// Direction the light travels (shadows fall this way), unit length.
    let lightX: Double, lightY: Double
    let tableRed: Float, tableGreen: Float, tableBlue: Float
    /// Low-frequency colour field: a (cells+1)² grid of luminance and chroma offsets.
    let noiseCells: Int
    let noiseLuminance: [Float], noiseRed: [Float], noiseBlue: [Float]
    let grainDirectionX: Float, grainDirectionY: Float, grainFrequency: Float, grainAmplitude: Float
    let textureSeed: UInt64
    let tintRed: Float, tintGreen: Float, tintBlue: Float
    let brightness: Float, lightGradient: Float, vignette: Float
    var objects: [SceneObject]
    var gripper: Gripper
    var random: SplitMix64

    var minX: Double { rim + 2 }
    var maxX: Double { sceneWidth - rim - 2 }
    var minY: Double { rim + 2 }
    var maxY: Double { sceneHeight - rim - 2 }

    init(seed: UInt64, index: Int, sceneWidth: Double, sceneHeight: Double) {
        var random = SplitMix64(seed: SplitMix64.mix(seed ^ 0x5649_4445_4F53_594E)
                                      &+ SplitMix64.mix(UInt64(bitPattern: Int64(index)) &+ 0x632B_E59B_D9B4_E019))
        _ = random.next()
        self.sceneWidth = sceneWidth
        self.sceneHeight = sceneHeight
        rim = random.uniform(3.5, 6.0)
        let lightAngle = random.uniform(0.35, 1.25) + (random.uniform() < 0.5 ? 0 : 1.4)
        lightX = PortableMath.cos(lightAngle)
        lightY = PortableMath.sin(lightAngle)

        let tone = tableTones[random.integer(below: tableTones.count)]
        tableRed = tone.0 + Float(random.uniform(-0.04, 0.04))
        tableGreen = tone.1 + Float(random.uniform(-0.04, 0.04))
        tableBlue = tone.2 + Float(random.uniform(-0.04, 0.04))
        noiseCells = 4
        let points = (noiseCells + 1) * (noiseCells + 1)
        var luminance = [Float](), red = [Float](), blue = [Float]()
        for _ in 0..<points {
            luminance.append(Float(0.05 * random.normal()))
            red.append(Float(0.015 * random.normal()))
            blue.append(Float(0.015 * random.normal()))
        }
        noiseLuminance = luminance; noiseRed = red; noiseBlue = blue
        let grainAngle = random.uniform(0, PortableMath.pi)
        grainDirectionX = Float(PortableMath.cos(grainAngle))
        grainDirectionY = Float(PortableMath.sin(grainAngle))
        grainFrequency = Float(random.uniform(0.6, 1.2))
        grainAmplitude = Float(random.uniform(0.015, 0.035))
        textureSeed = random.next()

        tintRed = Float(1 + random.uniform(-0.06, 0.06))
        tintGreen = Float(1 + random.uniform(-0.06, 0.06))
        tintBlue = Float(1 + random.uniform(-0.06, 0.06))
        brightness = Float(random.uniform(0.88, 1.08))
        lightGradient = Float(random.uniform(0.04, 0.14))
        vignette = Float(random.uniform(0.08, 0.2))

        // Objects: 2–4, placed without overlap where possible (at most 30 tries each).
        let lowX = rim + 8, highX = sceneWidth - rim - 8
        let lowY = rim + 12, highY = sceneHeight - rim - 8
        var objects: [SceneObject] = []
        for _ in 0..<(2 + random.integer(below: 3)) {
            let isDisc = random.uniform() < 0.5
            let colour = objectColours[random.integer(below: objectColours.count)]
            let shade = Float(random.uniform(0.85, 1.05))
            var object = SceneObject(
                isDisc: isDisc, x: 0, y: 0,
                halfWidth: isDisc ? random.uniform(3.5, 6.0) : random.uniform(3.0, 6.5),
                halfHeight: 0, angle: random.uniform(0, PortableMath.pi),
                red: colour.0 * shade, green: colour.1 * shade, blue: colour.2 * shade)
            object.halfHeight = isDisc ? object.halfWidth : random.uniform(2.5, 5.0)
            for _ in 0..<30 {
                object.x = random.uniform(lowX, max(lowX, highX))
                object.y = random.uniform(lowY, max(lowY, highY))
                let clear = objects.allSatisfy { other in
                    let dx = other.x - object.x, dy = other.y - object.y
                    let gap = other.boundingRadius + object.boundingRadius + 1.5
                    return dx * dx + dy * dy > gap * gap
                }
                if clear { break }
            }
            objects.append(object)
        }
        self.objects = objects

        gripper = Gripper(x: random.uniform(rim + 6, sceneWidth - rim - 6),
                          y: random.uniform(rim + 6, 0.6 * sceneHeight),
                          z: random.uniform(0.5, 1.0), opening: random.uniform(0.2, 1.0),
                          speed: random.uniform(1.6, 3.0),
                          baseX: random.uniform(0.3, 0.7) * sceneWidth)
        self.random = random
    }

    /// One simulation step: move the gripper towards its target, push what it touches, separate objects.
    mutating func advance() {
        // Choose a new target now and then: mostly "through" an object (so it gets pushed), else anywhere.
        var dx = gripper.targetX - gripper.x, dy = gripper.targetY - gripper.y
        gripper.stepsToRetarget -= 1
        if gripper.stepsToRetarget <= 0 || dx * dx + dy * dy < 6 {
            gripper.stepsToRetarget = 5 + random.integer(below: 8)
            if !objects.isEmpty && random.uniform() < 0.7 {
                let chosen = random.integer(below: objects.count)
                let object = objects[chosen]
                var ox = object.x - gripper.x, oy = object.y - gripper.y
                let length = max((ox * ox + oy * oy).squareRoot(), 1e-6)
                ox /= length; oy /= length
                let beyond = random.uniform(2, 8)
                gripper.targetX = object.x + ox * beyond
                gripper.targetY = object.y + oy * beyond
                gripper.targetObject = chosen
            } else {
                gripper.targetX = random.uniform(minX, maxX)
                gripper.targetY = random.uniform(minY, maxY)
                gripper.targetObject = -1
            }
            dx = gripper.targetX - gripper.x; dy = gripper.targetY - gripper.y
        }

        // Smooth pursuit with momentum and a little noise.
        let distance = max((dx * dx + dy * dy).squareRoot(), 1e-6)
        let desired = min(gripper.speed, distance)
        gripper.velocityX = 0.7 * gripper.velocityX + 0.3 * desired * dx / distance + 0.3 * random.normal()
        gripper.velocityY = 0.7 * gripper.velocityY + 0.3 * desired * dy / distance + 0.3 * random.normal()
        gripper.x += gripper.velocityX
        gripper.y += gripper.velocityY
        if gripper.x < minX { gripper.x = minX; gripper.velocityX *= -0.3 }
        if gripper.x > maxX { gripper.x = maxX; gripper.velocityX *= -0.3 }
        if gripper.y < minY { gripper.y = minY; gripper.velocityY *= -0.3 }
        if gripper.y > maxY { gripper.y = maxY; gripper.velocityY *= -0.3 }

        // Lower near a target object, raise otherwise.
        let nearObject = gripper.targetObject >= 0 && distance < 16
        let targetZ = nearObject ? 0.0 : 0.75
        gripper.velocityZ = 0.55 * gripper.velocityZ + 0.2 * (targetZ - gripper.z) + 0.04 * random.normal()
        gripper.z = min(max(gripper.z + gripper.velocityZ, 0), 1)
        gripper.opening = min(max(gripper.opening + 0.15 * random.normal(), 0), 1)

        // Push: a lowered gripper moves every object it overlaps out of its way (at most 3 units a step),
        // turning it a little according to where it was hit.
        if gripper.z < Gripper.pushHeight {
            for i in objects.indices {
                let hit = objects[i].signedDistance(gripper.x, gripper.y)
                let penetration = Gripper.pushRadius - hit.distance
                if penetration > 0 {
                    let step = min(penetration, 3.0)
                    let pushX = -hit.normalX * step, pushY = -hit.normalY * step
                    let armX = gripper.x - objects[i].x, armY = gripper.y - objects[i].y
                    let torque = armX * pushY - armY * pushX
                    objects[i].x += pushX
                    objects[i].y += pushY
                    if !objects[i].isDisc {
                        objects[i].angle += 0.5 * torque / max(objects[i].boundingRadius * objects[i].boundingRadius, 1)
                    }
                }
            }
        }
        // Objects push each other (bounding circles), and stay on the table.
        for _ in 0..<2 {
            for i in objects.indices {
                for j in objects.indices where j > i {
                    let ox = objects[j].x - objects[i].x, oy = objects[j].y - objects[i].y
                    let gap = objects[i].collisionRadius + objects[j].collisionRadius
                    let length = (ox * ox + oy * oy).squareRoot()
                    if length < gap {
                        let ux = length > 1e-6 ? ox / length : 1, uy = length > 1e-6 ? oy / length : 0
                        let half = 0.5 * (gap - length)
                        objects[i].x -= ux * half; objects[i].y -= uy * half
                        objects[j].x += ux * half; objects[j].y += uy * half
                    }
                }
            }
        }
        for i in objects.indices {
            let margin = 0.6 * objects[i].collisionRadius
            objects[i].x = min(max(objects[i].x, rim + margin), sceneWidth - rim - margin)
            objects[i].y = min(max(objects[i].y, rim + margin), sceneHeight - rim - margin)
        }
    }
}

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
                lightX: lightX, lightY: lightY)
        drawArm(g, scale: scale, offsetX: 0, offsetY: 0, shadow: false, lightX: lightX, lightY: lightY)

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
    /// gripper, the gripper body, and two fingers.
    func drawArm(_ g: Gripper, scale: Double, offsetX: Double, offsetY: Double, shadow: Bool,
                 lightX: Double, lightY: Double) {
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
        // Body: a dark rounded box.
        let bodyY = gy - 0.3 * scale
        boxPass(gx, bodyY, bodyHalfWidth, bodyHalfHeight, corner: 0.8 * scale) { pixel, d, _, v in
            if shadow {
                let a = coverage(d, softness: 1.5)
                if a > 0 { darken(pixel, 0.3 * a) }
                return
            }
            let a = coverage(d)
            if a > 0 {
                let shade = 1 - 0.25 * v
                blend(pixel, 0.17 * shade, 0.17 * shade, 0.19 * shade, a)
            }
        }
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
