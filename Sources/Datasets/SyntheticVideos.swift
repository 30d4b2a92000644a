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
// Conditioned modes (docs/design.md §11), each a separate scene so the classic corpus above stays byte for
// byte what it always was (tests pin its hashes):
//
// - Actions (`actions: true`, `vt prepare synthetic --actions`): the gripper's motion at each step IS the
//   action. action_t = (dx, dy, dz, dopening) is the displacement from frame t to frame t+1 (after the
//   tray's walls stopped it), so positions[t+1] = positions[t] + actions[t] exactly: x, y in reference
//   units (the shorter image side is 64 units, x to the right, y down; one unit is one pixel at 64×64,
//   half a pixel at 32×32), z the height above the table (0 touches it and pushes, 1 fully raised),
//   dopening the change of the fingers' opening (0 closed, 1 open). The actions come from a seeded,
//   smooth process (momentum, pursuit of a target that is often an object, and noise), so a model that
//   sees them knows where the gripper goes and one that does not can only guess. The action of the last
//   frame (towards the frame after the video) is simulated too, so a longer video's actions start with
//   a shorter one's. Objects are pushed as in the classic scene.
// - Classes (`classes: K`, 1...6, `vt prepare synthetic --classes K`): video i has class label(i), a pure
//   function of (seed, index, K), and the table has that class's colour (`classNames`: red, orange,
//   yellow, green, teal, blue), which no lighting variation makes look like another class; objects never
//   take a colour close to the table's.
// - In both (and combined) the gripper's body is magenta, a colour nothing else in these scenes has, and
//   centred on the gripper's position, so `SyntheticMeasures` can find it in pixels; the objects' colours
//   leave out purple and pink. Everything else (the scene's layout, lighting, texture) is the classic
//   scene's for the same (seed, index).
//
// Not here: writing shards (Prepare.swift with VideoShardWriter), measuring pixels (SyntheticMeasures).

/// Generates the built-in synthetic corpus: seeded, deterministic robot-pushing-like videos.
public struct SyntheticVideoGenerator: Sendable {
    public let frames: Int
    public let height: Int
    public let width: Int
    public let seed: UInt64
    /// Whether the gripper is moved by actions (the action-driven scene; see the file comment).
    public let actions: Bool
    /// K, the number of classes (0: unlabelled, the classic look).
    public let classes: Int

    /// A of the action-driven scene's actions: (dx, dy, dz, dopening).
    public static let actionWidth = 4
    /// The most classes `classes` may ask for.
    public static var maximumClasses: Int { classNames.count }
    /// Every class's name, in label order: what the class looks like.
    public static let classNames = ["red table", "orange table", "yellow table", "green table", "teal table", "blue table"]

    /// - Precondition: `frames ≥ 0`, `height ≥ 1`, `width ≥ 1` (videos are meant to be ≥ 8×8),
    ///   `classes` in 0...maximumClasses.
    public init(frames: Int, height: Int, width: Int, seed: UInt64, actions: Bool = false, classes: Int = 0) {
        precondition(frames >= 0 && height >= 1 && width >= 1,
                     "SyntheticVideoGenerator: frames must be ≥ 0 and height, width ≥ 1 " +
                     "(got frames \(frames), height \(height), width \(width))")
        precondition((0...Self.maximumClasses).contains(classes),
                     "SyntheticVideoGenerator: classes must be in 0...\(Self.maximumClasses) (got \(classes))")
        self.frames = frames
        self.height = height
        self.width = width
        self.seed = seed
        self.actions = actions
        self.classes = classes
    }

    /// Whether this is the classic corpus (no actions, no classes): the pixels every existing shard holds.
    public var isClassic: Bool { !actions && classes == 0 }
    /// The class names (the first `classes` of `classNames`), nil without classes.
    public var labelNames: [String]? { classes > 0 ? Array(Self.classNames.prefix(classes)) : nil }
    /// Reference units per pixel: 64 / min(height, width).
    public var unitsPerPixel: Double { 64.0 / Double(min(height, width)) }

    /// The class of video `index` in 0..<classes, a pure function of (seed, index, classes); nil without classes.
    public func label(index: Int) -> Int? {
        guard classes > 0 else { return nil }
        let hash = SplitMix64.mix(SplitMix64.mix(seed ^ 0x4C41_4245_4C5F_4B21) &+ UInt64(bitPattern: Int64(index)))
        return Int(hash % UInt64(classes))
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
        video(index: index, into: buffer, actions: nil, positions: nil)
    }

    /// Writes video `index` into `buffer` ([frames, height, width, 3]), and when given its actions into
    /// `actions` ([frames, 4], row t the action taken at frame t; action-driven scenes only) and the gripper's
    /// position at every frame into `positions` ([frames, 3]: x, y in reference units, z in [0, 1]).
    public func video(index: Int, into buffer: UnsafeMutablePointer<UInt8>,
                      actions actionBuffer: UnsafeMutablePointer<Float>?, positions: UnsafeMutablePointer<Float>?) {
        precondition(actionBuffer == nil || actions, "SyntheticVideoGenerator: only the action-driven scene has actions")
        let unitsPerPixel = 64.0 / Double(min(height, width))
        var scene = makeScene(index: index)
        var canvas = Canvas(width: width, height: height, unitsPerPixel: Float(unitsPerPixel))
        defer { canvas.deallocate() }
        canvas.paintBackground(scene)
        for t in 0..<frames {
            canvas.render(scene, into: buffer + t * bytesPerFrame)
            step(&scene, frame: t, actions: actionBuffer, positions: positions)
        }
    }

    /// The gripper's path through video `index` without rendering it: positions [frames, 3] (as `video`'s)
    /// and, in the action-driven scene, the actions [frames, 4].
    public func gripperPath(index: Int) -> (positions: [Float], actions: [Float]?) {
        var scene = makeScene(index: index)
        var positions = [Float](repeating: 0, count: frames * 3)
        var path = [Float](repeating: 0, count: actions ? frames * Self.actionWidth : 0)
        positions.withUnsafeMutableBufferPointer { positionBuffer in
            path.withUnsafeMutableBufferPointer { actionBuffer in
                for t in 0..<frames {
                    step(&scene, frame: t, actions: actions ? actionBuffer.baseAddress : nil, positions: positionBuffer.baseAddress)
                }
            }
        }
        return (positions, actions ? path : nil)
    }

    /// The scene of video `index`, in this generator's mode.
    func makeScene(index: Int) -> Scene {
        let unitsPerPixel = 64.0 / Double(min(height, width))
        return Scene(seed: seed, index: index, sceneWidth: Double(width) * unitsPerPixel, sceneHeight: Double(height) * unitsPerPixel,
                     style: SceneStyle(marked: !isClassic, label: label(index: index)))
    }

    /// After frame `t` is drawn: records the gripper's position, then moves the scene on — the classic scene
    /// only while frames follow, the action-driven one also after the last (its action is the video's last row).
    private func step(_ scene: inout Scene, frame t: Int, actions actionBuffer: UnsafeMutablePointer<Float>?,
                      positions: UnsafeMutablePointer<Float>?) {
        if let positions {
            positions[3 * t] = Float(scene.gripper.x)
            positions[3 * t + 1] = Float(scene.gripper.y)
            positions[3 * t + 2] = Float(scene.gripper.z)
        }
        if actions {
            let action = scene.advanceDriven()
            if let row = actionBuffer.map({ $0 + t * Self.actionWidth }) {
                row[0] = Float(action.dx); row[1] = Float(action.dy); row[2] = Float(action.dz); row[3] = Float(action.dOpening)
            }
        } else if t + 1 < frames {
            scene.advance()
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

/// The conditioned scenes' palettes: objects without purple and pink (nothing may look like the magenta
/// gripper), and the class tables (albedo), far apart in chromaticity and none near magenta.
let markedObjectColours: [(Float, Float, Float)] = objectColours.enumerated().filter { ![4, 9].contains($0.offset) }.map(\.element)
let classTables: [(Float, Float, Float)] = [
    (0.76, 0.28, 0.24), (0.80, 0.52, 0.22), (0.74, 0.70, 0.28), (0.36, 0.62, 0.32), (0.24, 0.60, 0.58), (0.30, 0.42, 0.76),
]
/// The gripper body's colour in the conditioned scenes.
let markerColour: (Float, Float, Float) = (0.95, 0.12, 0.88)

/// Chromaticity (r, g) = (R, G) / (R + G + B) of a colour: what lighting (a common factor) leaves alone.
func chromaticity(_ red: Float, _ green: Float, _ blue: Float) -> (Float, Float) {
    let sum = max(red + green + blue, 1e-6)
    return (red / sum, green / sum)
}

/// How a scene differs from the classic one. `.classic` draws exactly the classic scene.
struct SceneStyle {
    /// The magenta gripper and the palette without purple and pink.
    var marked = false
    /// The video's class: the table's colour (nil: the classic table tones).
    var label: Int? = nil

    static let classic = SceneStyle()
}

struct Scene {
    let sceneWidth: Double, sceneHeight: Double
    /// Whether the gripper's body is the magenta marker (conditioned scenes).
    let marked: Bool
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

    init(seed: UInt64, index: Int, sceneWidth: Double, sceneHeight: Double, style: SceneStyle = .classic) {
        var random = SplitMix64(seed: SplitMix64.mix(seed ^ 0x5649_4445_4F53_594E)
                                      &+ SplitMix64.mix(UInt64(bitPattern: Int64(index)) &+ 0x632B_E59B_D9B4_E019))
        _ = random.next()
        // The conditioned styles draw from their own stream, so the classic stream (and scene) is untouched.
        var styleRandom = SplitMix64(seed: SplitMix64.mix(seed ^ 0x434F_4E44_5354_594C)
                                           &+ SplitMix64.mix(UInt64(bitPattern: Int64(index)) &+ 0x2545_F491_4F6C_DD1D))
        marked = style.marked
        self.sceneWidth = sceneWidth
        self.sceneHeight = sceneHeight
        rim = random.uniform(3.5, 6.0)
        let lightAngle = random.uniform(0.35, 1.25) + (random.uniform() < 0.5 ? 0 : 1.4)
        lightX = PortableMath.cos(lightAngle)
        lightY = PortableMath.sin(lightAngle)

        let tone = tableTones[random.integer(below: tableTones.count)]
        var table = (tone.0 + Float(random.uniform(-0.04, 0.04)), tone.1 + Float(random.uniform(-0.04, 0.04)),
                     tone.2 + Float(random.uniform(-0.04, 0.04)))
        if let label = style.label {
            let classTone = classTables[label]
            table = (classTone.0 + Float(styleRandom.uniform(-0.03, 0.03)), classTone.1 + Float(styleRandom.uniform(-0.03, 0.03)),
                     classTone.2 + Float(styleRandom.uniform(-0.03, 0.03)))
        }
        (tableRed, tableGreen, tableBlue) = table
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
        if style.marked {
            // Recoloured from the marked palette, leaving out colours near the table's (same chromaticity).
            let tableColour = chromaticity(table.0, table.1, table.2)
            let palette = markedObjectColours.filter { colour in
                let c = chromaticity(colour.0, colour.1, colour.2)
                let (dr, dg) = (c.0 - tableColour.0, c.1 - tableColour.1)
                return style.label == nil || dr * dr + dg * dg > 0.1 * 0.1
            }
            for i in objects.indices {
                let colour = palette[styleRandom.integer(below: palette.count)]
                let shade = Float(styleRandom.uniform(0.85, 1.05))
                (objects[i].red, objects[i].green, objects[i].blue) = (colour.0 * shade, colour.1 * shade, colour.2 * shade)
            }
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
        let (dx, dy) = retarget(objectChance: 0.7)

        // Smooth pursuit with momentum and a little noise.
        let distance = max((dx * dx + dy * dy).squareRoot(), 1e-6)
        let desired = min(gripper.speed, distance)
        gripper.velocityX = 0.7 * gripper.velocityX + 0.3 * desired * dx / distance + 0.3 * random.normal()
        gripper.velocityY = 0.7 * gripper.velocityY + 0.3 * desired * dy / distance + 0.3 * random.normal()
        moveGripper(distance: distance)
        pushAndSeparate()
    }

    /// One step of the action-driven scene: like `advance`, with livelier motion (more noise, objects less
    /// often the target). Returns the action: the gripper's displacement (dx, dy, dz) and the change of
    /// its fingers' opening, as made (after the walls stopped it).
    mutating func advanceDriven() -> (dx: Double, dy: Double, dz: Double, dOpening: Double) {
        let (x, y, z, opening) = (gripper.x, gripper.y, gripper.z, gripper.opening)
        let (dx, dy) = retarget(objectChance: 0.5)
        let distance = max((dx * dx + dy * dy).squareRoot(), 1e-6)
        let desired = min(gripper.speed, distance)
        gripper.velocityX = 0.65 * gripper.velocityX + 0.35 * desired * dx / distance + 0.8 * random.normal()
        gripper.velocityY = 0.65 * gripper.velocityY + 0.35 * desired * dy / distance + 0.8 * random.normal()
        moveGripper(distance: distance)
        pushAndSeparate()
        return (gripper.x - x, gripper.y - y, gripper.z - z, gripper.opening - opening)
    }

    /// Chooses a new target now and then — mostly "through" an object (so it gets pushed), else anywhere —
    /// and returns the offset from the gripper to the target.
    mutating func retarget(objectChance: Double) -> (Double, Double) {
        var dx = gripper.targetX - gripper.x, dy = gripper.targetY - gripper.y
        gripper.stepsToRetarget -= 1
        if gripper.stepsToRetarget <= 0 || dx * dx + dy * dy < 6 {
            gripper.stepsToRetarget = 5 + random.integer(below: 8)
            if !objects.isEmpty && random.uniform() < objectChance {
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
        return (dx, dy)
    }

    /// Moves the gripper by its velocity (stopped by the walls), lowers it near a target object and raises it
    /// otherwise, and lets its fingers drift.
    mutating func moveGripper(distance: Double) {
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
    }

    /// Pushes what a lowered gripper touches and separates the objects.
    mutating func pushAndSeparate() {
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
